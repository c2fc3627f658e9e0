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
from multirnn.keras1 import keras1_aliases

UNSET = object()  # the default learning_rate: tells `lr=` given alone from both given


class Optimizer:
    """Base: hyperparameters, gradient clipping, lazily created slots, saved state.

    `epsilon` defaults to K.epsilon() read at construction; `learning_rate` (Keras 1: `lr`) is a
    host float that may be reassigned between steps (`optimizer.lr = 0.001`)."""
    slot_names = ()
    default_lr = 0.01

    @keras1_aliases({"lr": "learning_rate"})
    def __init__(self, learning_rate=UNSET, decay=0.0, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, epsilon=None, **kwargs):
        cls = type(self).__name__
        if kwargs:
            raise TypeError(f"{cls}: unexpected keyword argument(s) {', '.join(map(repr, kwargs))}")
        self.learning_rate = self.default_lr if learning_rate is UNSET else learning_rate
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
        """Create the slots of `variables` now (they are otherwise created at their first update)."""
        new = [v for v in variables if id(v) not in self._slots]
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
        if self.clipvalue is not None:
            grads = [K.clip(g, -float(self.clipvalue), float(self.clipvalue)) for g in grads]
        if self.clipnorm is not None:
            c = float(self.clipnorm)
            grads = [g * c / K.maximum(K.sqrt(K.sum(K.square(g))), c) for g in grads]
        if self.global_clipnorm is not None and grads:
            c = float(self.global_clipnorm)
            norm = K.sqrt(sum(K.sum(K.square(g)) for g in grads))
            grads = [g * c / K.maximum(norm, c) for g in grads]
        return grads

    def apply_gradients(self, grads_and_vars, constraints=None) -> int:
        """Update each variable in place from its gradient (None gradients are skipped); then
        apply `constraints`, (variable, fn) pairs as in `Layer.constraints`. Returns iterations."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        variables = [v for _, v in pairs]
        grads = [g if K.is_tensor(g) else K.constant(np.asarray(g), K.dtype(v)) for g, v in pairs]
        self.build(variables)
        coefficients = self.coefficients(self.current_lr(), self.iterations + 1)
        by_id = {id(v): fn for v, fn in (constraints or [])}
        for g, v in zip(self._clip(grads), variables):
            self.update_variable(v, g, self._slots[id(v)][1], coefficients)
            if id(v) in by_id:
                K.update(v, by_id[id(v)](v))
        self.finish_step(coefficients)
        self.iterations += 1
        return self.iterations

    def minimize(self, loss_fn, variables, constraints=None):
        """One step on the scalar `loss_fn()`; returns the loss value before the step."""
        variables = list(variables)
        value, grads = K.value_and_grad(loss_fn, variables)
        self.apply_gradients(zip(grads, variables), constraints)
        return value

    def coefficients(self, lr: float, t: int) -> dict:
        """Host scalars for step t (1-based) given the decayed learning rate."""
        return {"lr": lr}

    def update_variable(self, var, grad, slots: dict, c: dict) -> None:
        raise NotImplementedError

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
        """Restore `get_weights()`; before the first step the slots wait for their variables."""
        weights = [np.asarray(w) for w in weights]
        head = 1 + len(self.extra_state())
        if len(weights) < head or (len(weights) - head) % max(1, len(self.slot_names)):
            raise ValueError(f"{type(self).__name__}.set_weights: expected {head} state arrays then "
                             f"{len(self.slot_names)} slot(s) per variable, got {len(weights)} arrays")
        slots = weights[head:]
        if not slots:
            pass  # saved before any step: the slots keep their initial values
        elif not self._slots:
            self._pending = slots
        elif len(slots) != len(self.slot_names) * len(self._slots):
            raise ValueError(f"{type(self).__name__}.set_weights: this optimizer holds slots for {len(self._slots)} "
                             f"variable(s), got {len(slots)} slot arrays")
        else:
            self._assign_slots(slots)
        self.iterations = int(weights[0])
        self.set_extra_state(weights[1:head])

    def _assign_slots(self, arrays):
        targets = [slots[n] for n in self.slot_names for _, slots in self._slots.values()]
        if len(arrays) != len(targets):
            raise ValueError(f"{type(self).__name__}.set_weights: saved slots are for {len(arrays)} arrays, "
                             f"but the variables being trained need {len(targets)}")
        for target, value in zip(targets, arrays):
            if tuple(K.int_shape(target)) != value.shape:
                raise ValueError(f"{type(self).__name__}.set_weights: slot of shape {tuple(K.int_shape(target))} "
                                 f"got an array of shape {value.shape}")
        for target, value in zip(targets, arrays):
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
