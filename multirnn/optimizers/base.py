"""The optimizer base: hyperparameters, gradient clipping, lazily created slots, saved state.

Scalar coefficients (decayed learning rate, bias corrections, Nadam's momentum schedule) are
computed on the host in float64 from the integer step count, so every backend applies the
same scalars; the per-variable updates are K operations applied in place with `K.update`.
Time decay (all but Nadam): lr_t = learning_rate / (1 + decay * iterations), iterations
counted before the step. `clipvalue` is applied first, then `clipnorm` (each gradient clipped
by its own norm, as tf_keras) or `global_clipnorm` (all gradients by their joint norm).
"""
import numpy as np

from multirnn import backend as K
from multirnn.errors import InvalidArgumentError
from multirnn.keras1 import keras1_aliases
from multirnn.optimizers import defaults

UNSET = object()  # the default learning_rate: tells `lr=` given alone from both given


class Optimizer:
    """Base: hyperparameters, gradient clipping, lazily created slots, saved state.

    `epsilon` defaults to K.epsilon() read at construction; `learning_rate` (Keras 1: `lr`) is a
    host float that may be reassigned between steps (`optimizer.lr = 0.001`)."""
    slot_names = ()
    default_lrs = (0.01, 0.01)  # the default learning rate: tf_keras's, Keras 2.2's (see defaults.py)

    @keras1_aliases({"lr": "learning_rate"})
    def __init__(self, learning_rate=UNSET, decay=0.0, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, epsilon=None, **kwargs):
        cls = type(self).__name__
        if kwargs:
            raise TypeError(f"{cls}: unexpected keyword argument(s) {', '.join(map(repr, kwargs))}")
        self.learning_rate = defaults.default_lr(type(self)) if learning_rate is UNSET else learning_rate
        for arg, value in (("decay", decay), ("clipnorm", clipnorm), ("clipvalue", clipvalue),
                           ("global_clipnorm", global_clipnorm)):
            if value is not None and (not isinstance(value, (int, float)) or value < 0):
                raise ValueError(f"{cls}: {arg} must be a non-negative number, got {value!r}")
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError(f"{cls}: give clipnorm or global_clipnorm, not both")
        self.decay = float(decay)
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.epsilon = K.epsilon() if epsilon is None else float(epsilon)
        self.iterations = 0
        self._slots = {}       # id(variable) -> (variable, {slot name: K.variable})
        self._pending = None   # slot arrays from set_weights, waiting for their variables
        self._compiled_updates = {}  # (backend, variables, constraints) -> compiled update_variables, or None

    # ---- hyperparameters
    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        value = float(np.asarray(K.to_numpy(value) if K.is_tensor(value) else value))
        if not value >= 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be a non-negative number, got {value!r}")
        self._learning_rate = value

    lr = learning_rate  # Keras 1 name, also settable: `optimizer.lr = 0.001`

    def current_lr(self) -> float:
        """The time-decayed learning rate of the next step."""
        return self.learning_rate / (1.0 + self.decay * self.iterations) if self.decay else self.learning_rate

    # ---- slots
    def slot_initial(self, name: str) -> float:
        return 0.0

    def build(self, variables) -> None:
        """Create the slots of `variables` now (they are otherwise created at their first update).
        Slots restored by `set_weights` before this are checked against them before anything is made."""
        new = [v for v in variables if id(v) not in self._slots]
        if self._pending is not None and new:
            self._check_slots(self._pending, [tuple(K.int_shape(v)) for _ in self.slot_names for v in new],
                              " (restored before the first step)")
        for v in new:
            shape, dtype = tuple(K.int_shape(v)), K.dtype(v)
            self._slots[id(v)] = (v, {n: K.variable(np.full(shape, self.slot_initial(n)), dtype=dtype,
                                                     name=f"{type(self).__name__}/{n}")
                                      for n in self.slot_names})
        if self._pending is not None and new:
            pending, self._pending = self._pending, None
            self._assign_slots(pending)

    def get_slot(self, variable, name: str):
        return self._slots[id(variable)][1][name]

    # ---- the step
    def _clip(self, grads):
        """Clip dense gradients, and the rows of indexed ones as they came (repeats not yet summed, as tf)."""
        rows = [K.indexed_raw(g)[1] if K.is_indexed(g) else g for g in grads]
        if self.clipvalue is not None:
            rows = [K.clip(g, -float(self.clipvalue), float(self.clipvalue)) for g in rows]
        if self.clipnorm is not None:
            c = float(self.clipnorm)
            rows = [g * c / K.maximum(K.sqrt(K.sum(K.square(g))), c) for g in rows]
        if self.global_clipnorm is not None and rows:
            c = float(self.global_clipnorm)
            norm = K.sqrt(sum(K.sum(K.square(g)) for g in rows))
            rows = [g * c / K.maximum(norm, c) for g in rows]
        return [K.indexed_like(g, r) for g, r in zip(grads, rows)]

    def apply_gradients(self, grads_and_vars, constraints=None, compiled: bool = False) -> int:
        """Update each variable in place from its gradient (None gradients are skipped); then
        apply `constraints`, (variable, fn) pairs as in `Layer.constraints`. Returns iterations.

        The host part (slots, coefficients, the step count) runs here; the variable updates run in
        `update_variables`, compiled by the backend when `compiled` and the backend compiles steps."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        variables = [v for _, v in pairs]
        grads = [g if K.is_tensor(g) or K.is_indexed(g) else K.constant(np.asarray(g), K.dtype(v))
                 for g, v in pairs]
        coefficients = self.begin_step(variables)
        updated = {id(v) for v in variables}
        constraints = [(v, fn) for v, fn in (constraints or []) if id(v) in updated]
        update = self._compiled_update(variables, constraints) if compiled else None
        if update is None:
            self.update_variables(grads, variables, coefficients, constraints)
        else:
            update(grads, coefficients)
        return self.end_step(coefficients)

    def begin_step(self, variables) -> dict:
        """The host part before an update: the slots of `variables` made, the coefficients of the next step."""
        self.build(variables)
        return self.coefficients(self.current_lr(), self.iterations + 1)

    def end_step(self, coefficients: dict) -> int:
        """The host part after an update: optimizer-level state and the step count. Returns iterations."""
        self.finish_step(coefficients)
        self.iterations += 1
        return self.iterations

    def _compiled_update(self, variables, constraints):
        """`update_variables` of these variables compiled by the backend, or None where it is not."""
        key = (K.current_name(), K.fast_paths(), tuple(id(v) for v in variables),
               tuple((id(v), id(fn)) for v, fn in constraints))
        if key not in self._compiled_updates:
            self._compiled_updates[key] = K.compiled_step(
                lambda grads, coefficients: self.update_variables(grads, variables, coefficients, constraints))
        return self._compiled_updates[key]

    def update_variables(self, grads, variables, coefficients: dict, constraints) -> None:
        """The device part of a step: clip, update every variable and its slots, apply the constraints.
        Coefficients given as tensors (a compiled step's arguments) are cast to each variable's dtype."""
        by_id, by_dtype = {id(v): fn for v, fn in constraints}, {}
        for g, v in zip(self._clip(grads), variables):
            dtype = K.dtype(v)
            if dtype not in by_dtype:
                by_dtype[dtype] = {k: K.cast(x, dtype) if K.is_tensor(x) else x for k, x in coefficients.items()}
            self.update_variable(v, g, self._slots[id(v)][1], by_dtype[dtype])
            if id(v) in by_id:
                K.update(v, by_id[id(v)](v))

    def minimize(self, loss_fn, variables, constraints=None):
        """One step on the scalar `loss_fn()`; returns the loss value before the step."""
        variables = list(variables)
        value, grads = K.value_and_grad(loss_fn, variables, indexed=True)
        self.apply_gradients(zip(grads, variables), constraints)
        return value

    def coefficients(self, lr: float, t: int) -> dict:
        """Host scalars for step t (1-based) given the decayed learning rate."""
        return {"lr": lr}

    def update_variable(self, var, grad, slots: dict, c: dict) -> None:
        """Update `var` and its `slots` in place from `grad`: dense, or indexed (then `update_rows`)."""
        raise NotImplementedError

    def update_rows(self, var, grad, slots: dict, c: dict) -> None:
        """The sparse update of an indexed `grad` (tf_keras's `_resource_apply_sparse`); by default the dense one."""
        self.update_variable(var, K.densify(grad), slots, c)

    def finish_step(self, c: dict) -> None:
        """Update optimizer-level state after all variables (Nadam's momentum schedule)."""

    # ---- state
    def extra_state(self) -> list:
        return []

    def set_extra_state(self, values) -> None:
        pass

    def get_weights(self) -> list:
        """[iterations, optimizer-level state..., every slot grouped by slot name, variables in
        the order first seen]: enough to resume training identically."""
        out = [np.array(self.iterations, dtype=np.int64)] + [np.array(x) for x in self.extra_state()]
        records = list(self._slots.values())
        return out + [K.to_numpy(slots[n]) for n in self.slot_names for _, slots in records]

    def set_weights(self, weights) -> None:
        """Restore `get_weights()`, all checked before anything is set; before the first step the slots
        wait for their variables (and are checked when those come)."""
        where = f"{type(self).__name__}.set_weights"
        weights = [np.asarray(K.to_numpy(w) if K.is_tensor(w) else w) for w in weights]
        extra = [np.asarray(x) for x in self.extra_state()]
        head, per = 1 + len(extra), max(1, len(self.slot_names))
        if len(weights) < head or (len(weights) - head) % per or (len(weights) > head and not self.slot_names):
            raise InvalidArgumentError(f"{where}: expected {head} state array(s) then {len(self.slot_names)} "
                                       f"slot(s) per variable, got {len(weights)} arrays")
        iterations = _step_count(weights[0], where)
        for i, (given, current) in enumerate(zip(weights[1:head], extra), start=1):
            if given.shape != current.shape or given.dtype.kind not in "fiu":
                raise InvalidArgumentError(f"{where}: state array {i} must be a number of shape {current.shape}, "
                                           f"got {given.dtype} of shape {given.shape}")
        slots = weights[head:]
        if slots:
            self._check_slots(slots, [tuple(K.int_shape(t)) for t in self._slot_targets()] if self._slots else None)
        if slots and self._slots:
            self._assign_slots(slots)
        elif slots:
            self._pending = slots
        # no slots: saved before any step, they keep their initial values
        self.iterations = iterations
        self.set_extra_state(weights[1:head])

    def _slot_targets(self) -> list:
        return [slots[n] for n in self.slot_names for _, slots in self._slots.values()]

    def _check_slots(self, arrays, shapes, when: str = "") -> None:
        """Each slot array is floating point and, when `shapes` are known, of the matching count and shape."""
        where, count = f"{type(self).__name__}.set_weights", len(self.slot_names)
        if shapes is not None and len(arrays) != len(shapes):
            raise InvalidArgumentError(f"{where}: the saved slots{when} are {len(arrays)} arrays ({count} slot(s) "
                                       f"for {len(arrays) // count} variable(s)), but the variables being trained "
                                       f"need {len(shapes)} ({len(shapes) // count} variable(s))")
        for k, a in enumerate(arrays):
            label = f"slot {self.slot_names[k // max(1, len(arrays) // count)]!r} (array {k}){when}"
            if a.dtype.kind != "f":
                raise InvalidArgumentError(f"{where}: {label} must be floating point, got dtype {a.dtype}")
            if shapes is not None and a.shape != shapes[k]:
                raise InvalidArgumentError(f"{where}: {label} expects shape {shapes[k]}, got an array of shape "
                                           f"{a.shape}")

    def _assign_slots(self, arrays) -> None:
        """Assign checked arrays to the slots."""
        for target, value in zip(self._slot_targets(), arrays):
            K.set_value(target, value)

    def get_config(self) -> dict:
        config = {"learning_rate": self.learning_rate, "decay": self.decay, "epsilon": self.epsilon}
        for key in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def _step_count(value: np.ndarray, where: str) -> int:
    """The saved iteration count: one non-negative whole number."""
    ok = value.shape in ((), (1,)) and value.dtype.kind in "fiu" and np.isfinite(value).all()
    if not ok or value.reshape(()) < 0 or value.reshape(()) != int(value.reshape(())):
        raise InvalidArgumentError(f"{where}: the first array is the step count, a non-negative whole number; "
                                   f"got {value.dtype} of shape {value.shape}"
                                   + (f" = {value.reshape(())}" if value.size == 1 else ""))
    return int(value.reshape(()))
