"""Training shared by `Model` and `Sequential`: compile, fit, evaluate, predict and the batch methods.

A training step is `K.value_and_grad` of the loss (model run in the learning phase 1, plus the
layers' regularization losses), then `optimizer.apply_gradients`, then the weight constraints.
Each step is one Python body that the backend may compile (`K.compiled_step`: TensorFlow traces
it into a `tf.function`); `compile(run_eagerly=True)` runs it op by op. Everything runs under the
backend the model was created under.
"""
import contextlib
import math
from typing import Optional

import numpy as np

from multirnn import backend as K
from multirnn import optimizers
from multirnn.custom_objects import current_custom_objects
from multirnn.errors import InvalidArgumentError
from multirnn.keras1 import keras1_aliases
from multirnn.layers.base import outermost_call
from multirnn.models import data, fit_loop, generators
from multirnn.models.compile_utils import Compiled

GENERATOR_ALIASES = {"max_q_size": "max_queue_size", "nb_worker": "workers", "pickle_safe": "use_multiprocessing"}


@contextlib.contextmanager
def learning_phase(value: int):
    """Set the learning phase for a block, restoring the previous one after."""
    previous = K.learning_phase()
    K.set_learning_phase(value)
    try:
        yield
    finally:
        K.set_learning_phase(previous)


class Trainer:
    """compile/fit/evaluate/predict for a model with `inputs`, `outputs`, `input_names`, `output_names`."""

    def _init_trainer(self) -> None:
        self.optimizer, self._compiled, self._compile_args = None, None, None
        self.stop_training, self.history = False, None
        self.run_eagerly = False  # True: every step runs op by op, as written (Keras's debugging switch)

    @property
    def owner(self) -> str:
        """How errors name this model: its class and name."""
        return f"{type(self).__name__} {self.name!r}"

    # ---- compile
    @K.on_own_backend
    def compile(self, optimizer, loss=None, metrics=None, loss_weights=None, sample_weight_mode=None,
                weighted_metrics=None, run_eagerly=None, **kwargs) -> None:
        """Choose the optimizer, the loss(es) and metrics (names or objects; lists or dicts per output);
        `weighted_metrics` are averaged with the sample (and class) weights. Steps are compiled where the
        backend compiles them (TensorFlow); `run_eagerly=True` runs them op by op, with the same numbers."""
        if kwargs:
            raise TypeError(f"{self.owner}.compile: unexpected keyword argument(s) {', '.join(map(repr, kwargs))}")
        if run_eagerly is not None and not isinstance(run_eagerly, (bool, np.bool_)):
            raise InvalidArgumentError(f"{self.owner}.compile: run_eagerly must be True, False or None, "
                                       f"got {run_eagerly!r}")
        try:
            self.optimizer = optimizers.get(optimizer)
        except (ValueError, TypeError) as e:
            raise InvalidArgumentError(f"{self.owner}.compile: optimizer {optimizer!r}: {e}") from None
        self._compile_args = dict(loss=loss, loss_weights=loss_weights, metrics=metrics,
                                  sample_weight_mode=sample_weight_mode, custom=current_custom_objects(),
                                  weighted_metrics=weighted_metrics)
        self._compiled = self._resolve_compile()
        if run_eagerly is not None:
            self.run_eagerly = bool(run_eagerly)

    def _resolve_compile(self):
        names = self.output_names if self.outputs else [self.layers[-1].name] if self.layers else ["output"]
        shapes = [t.symbolic_shape for t in self.outputs] if self.outputs else [None] * len(names)
        return Compiled(self.owner, names, shapes, logits_of=self.take_logits, **self._compile_args)

    def require_compiled(self, what: str) -> Compiled:
        """The resolved compile settings; a clear error naming `what` when `compile` was not called."""
        if self._compile_args is None:
            raise RuntimeError(f"{self.owner}: call compile(optimizer, loss) before {what}")
        stale = self._compiled is None or self._compiled.names != self.output_names
        if stale or (self.outputs and not self._compiled.shapes_known):
            self._compiled = self._resolve_compile()
        return self._compiled

    @property
    def metrics_names(self) -> list:
        if self._compiled is None:
            return []
        return self._compiled.loss_names + self._compiled.metric_names

    # ---- data
    def _ensure_built(self, arrays) -> None:
        """Build a deferred model from the data (Sequential overrides this)."""

    def input_arrays(self, x, what: str) -> list:
        """The inputs as NumPy arrays checked against the model's inputs (building a deferred model)."""
        owner = f"{self.owner}.{what}"
        if not self.outputs:
            arrays = data.as_arrays(x, ["input"], "input", owner)
            data.check_nonempty_axes(arrays, ["input"], owner)
            self._ensure_built(arrays)
            if not self.outputs:
                raise InvalidArgumentError(f"{owner}: the model is not built and has no layers to build")
        arrays = data.as_arrays(x, self.input_names, "input", owner)
        arrays = data.check_shapes(arrays, [t.symbolic_shape for t in self.inputs], self.input_names, "input", owner)
        data.check_nonempty_axes(arrays, self.input_names, owner)
        return arrays

    def _targets(self, y, compiled, what: str) -> list:
        owner = f"{self.owner}.{what}"
        arrays = data.as_arrays(y, self.output_names, "output", owner)
        shapes = [tuple(t.symbolic_shape) for t in self.outputs]
        return data.check_targets(arrays, shapes, self.output_names, compiled.loss_fns, owner)

    def prepare(self, x, y, sample_weight, class_weight, what: str):
        """(inputs, targets, sample weights) as checked NumPy arrays for the batch methods and loops."""
        xs = self.input_arrays(x, what)
        compiled = self.require_compiled(what)
        ys = self._targets(y, compiled, what)
        data.check_samples(data.check_lengths({"x": xs, "y": ys}, f"{self.owner}.{what}"), f"{self.owner}.{what}")
        sws = data.sample_weights_for(sample_weight, class_weight, ys, self.output_names,
                                      compiled.sample_weight_modes, f"{self.owner}.{what}")
        return xs, ys, sws

    def _tensors(self, arrays: list, like=None) -> list:
        out = []
        for i, a in enumerate(arrays):
            if a is None:
                out.append(None)
                continue
            dtype = None
            if like is not None and a.dtype.kind in "iub":
                declared = getattr(like[i].node.layer, "dtype", None)
                if isinstance(declared, str) and declared.startswith(("int", "uint")):
                    dtype = declared
            out.append(K.constant(a, dtype))
        return out

    # ---- one batch
    def _run(self, xs: list, training: bool):
        with learning_phase(1 if training else 0), outermost_call():
            outs, masks = self.call_with_masks(xs if len(xs) > 1 else xs[0], None, training)
        many = len(self.outputs) > 1
        return (list(outs) if many else [outs]), (list(masks) if many else [masks])

    def _loss(self, compiled, x_t, y_t, w_t, training: bool):
        outputs, masks = self._run(x_t, training)
        total, parts = compiled.loss(y_t, outputs, w_t, masks)
        for extra in self.losses:
            total = total + extra
        return total, (parts, outputs, masks)

    # ---- the steps: one Python body each, run as it is or compiled by the backend (K.compiled_step)
    def _step(self, kind: str, make):
        """(what runs step `kind`: its compiled body or the body itself, the body); made again when the
        trainable weights or the compile settings change."""
        variables = self.trainable_weights if kind in ("train", "whole") else []
        key = (kind, K.current_name(), K.fast_paths(), id(self._compiled), id(self.optimizer),
               tuple(id(v) for v in variables))
        steps = self.__dict__.setdefault("_steps", {})
        if key not in steps:
            layers = fit_loop.stateful_layers(self)
            body = make(self._compiled, variables, layers)
            for old in [k for k in steps if k[0] == kind]:
                del steps[old]  # made for other weights or settings
            steps[key] = (body, None if self.run_eagerly else K.compiled_step(body))
        body, compiled = steps[key]
        return compiled or body, body

    def _loss_body(self, compiled, variables, layers, training: bool):
        """The body of a train (with gradients) or test step: (total, parts, metrics, grads, new states)."""
        names = []

        def body(x_t, y_t, w_t, states):
            _put_states(layers, states)
            if training:
                (total, (parts, outputs, masks)), grads = K.value_and_grad(
                    lambda: self._loss(compiled, x_t, y_t, w_t, True), variables, has_aux=True, indexed=True)
            else:
                (total, (parts, outputs, masks)), grads = self._loss(compiled, x_t, y_t, w_t, False), []
            records = compiled.metrics(y_t, outputs, masks, [None if w is None else i for i, w in enumerate(w_t)])
            names[:] = [(n, i) for n, _, _, i in records]  # i: the output whose sample weights apply
            metrics = [(v, m) for _, v, m, _ in records]
            return _as_tensor(total), list(parts), metrics, list(grads), [list(l.states) for l in layers]
        body.metric_names = names
        return body

    def _logs(self, body, total, parts, metrics, sws) -> tuple:
        """(loss values, metric records) on the host from a step's results."""
        compiled = self._compiled
        values = [("loss", float(np.asarray(K.to_numpy(total))))]
        if len(compiled.loss_names) > 1:
            values += [(n, float(np.asarray(K.to_numpy(p)))) for n, p in zip(compiled.loss_names[1:], parts)]
        records = [(n, _host(v), None if m is None else _host(m), None if i is None else np.asarray(sws[i], np.float64))
                   for (n, i), (v, m) in zip(body.metric_names, metrics)]
        return values, records

    def _whole_body(self, compiled, variables, layers):
        """The body of a whole training step, the update included (applied in the step only when the loss
        is finite, unless `always`): (total, parts, metrics, new states, whether it was applied)."""
        trainable = {id(v) for v in variables}
        constraints = [(var, fn) for var, fn in self.constraints if id(var) in trainable]
        loss_body = self._loss_body(compiled, variables, layers, True)

        def body(x_t, y_t, w_t, states, coefficients, always):
            total, parts, metrics, grads, new_states = loss_body(x_t, y_t, w_t, states)

            def update():
                self.optimizer.update_variables(grads, variables, coefficients, constraints)
            if always:
                update()
                return total, parts, metrics, new_states, True
            return total, parts, metrics, new_states, K.run_if_finite(total, update)
        body.metric_names = loss_body.metric_names
        return body

    def _whole_train_step(self, step, body, xs, ys, sws, on_nonfinite, where):
        """A training step compiled whole (forward, gradients, update): one call of the backend's graph."""
        layers = fit_loop.stateful_layers(self)
        saved = fit_loop.save_states(self)
        coefficients = self.optimizer.begin_step(self.trainable_weights)
        total, parts, metrics, states, applied = step(*self._step_inputs(xs, ys, sws, layers), coefficients,
                                                      on_nonfinite == "apply")
        _put_states(layers, states)
        if bool(np.asarray(K.to_numpy(applied)) if K.is_tensor(applied) else applied):
            self.optimizer.end_step(coefficients)
        else:
            fit_loop.restore_states(saved)
            if on_nonfinite == "raise":
                loss = float(np.asarray(K.to_numpy(total)))
                raise InvalidArgumentError(f"{where or self.owner + '.train_step'}: the loss is {loss}, not finite; "
                                           "the weights were left unchanged (on_nonfinite='raise')")
        return self._logs(body, total, parts, metrics, sws)

    def train_step(self, xs, ys, sws, on_nonfinite: str = "skip", where: Optional[str] = None):
        """One gradient step on prepared arrays; returns (loss values, metric records) of the batch.

        A loss that is not finite skips the update (states kept), raises, or is applied (`on_nonfinite`).
        Where the backend compiles steps, the whole step is one compiled call (under a data-parallel strategy
        the gradients cross ranks between two calls)."""
        if getattr(self, "_distribute", None) is None and not self.run_eagerly:
            step, body = self._step("whole", self._whole_body)
            if step is not body:
                return self._whole_train_step(step, body, xs, ys, sws, on_nonfinite, where)
        step, body = self._step("train", lambda c, v, layers: self._loss_body(c, v, layers, True))
        variables = self.trainable_weights
        layers = fit_loop.stateful_layers(self)
        saved = fit_loop.save_states(self)
        total, parts, metrics, grads, states = step(*self._step_inputs(xs, ys, sws, layers))
        _put_states(layers, states)
        grads, total = self._reduce_gradients(grads, total, len(xs[0]))
        loss = float(np.asarray(K.to_numpy(total)))
        if not math.isfinite(loss) and on_nonfinite != "apply":
            fit_loop.restore_states(saved)
            if on_nonfinite == "raise":
                raise InvalidArgumentError(f"{where or self.owner + '.train_step'}: the loss is {loss}, not finite; "
                                           "the weights were left unchanged (on_nonfinite='raise')")
            return self._logs(body, total, parts, metrics, sws)
        trainable = {id(v) for v in variables}
        constraints = [(var, fn) for var, fn in self.constraints if id(var) in trainable]
        self.optimizer.apply_gradients(list(zip(grads, variables)), constraints, compiled=not self.run_eagerly)
        return self._logs(body, total, parts, metrics, sws)

    def _reduce_gradients(self, grads: list, total, batch_size: int):
        """(gradients, loss) as they are; under a data-parallel strategy, those of the global batch."""
        strategy = getattr(self, "_distribute", None)
        return (grads, total) if strategy is None else strategy.reduce_gradients(grads, total, batch_size)

    def test_step(self, xs, ys, sws):
        """The loss values and metric records of prepared arrays, without training."""
        step, body = self._step("test", lambda c, v, layers: self._loss_body(c, v, layers, False))
        layers = fit_loop.stateful_layers(self)
        total, parts, metrics, _, states = step(*self._step_inputs(xs, ys, sws, layers))
        _put_states(layers, states)
        return self._logs(body, total, parts, metrics, sws)

    def predict_step(self, xs) -> list:
        """The outputs for prepared input arrays, as NumPy arrays."""
        step, _ = self._step("predict", self._predict_body)
        layers = fit_loop.stateful_layers(self)
        outputs, states = step(self._tensors(xs, self.inputs), [list(l.states) for l in layers])
        _put_states(layers, states)
        return [np.asarray(K.to_numpy(o)) for o in outputs]

    def _predict_body(self, compiled, variables, layers):
        def body(x_t, states):
            _put_states(layers, states)
            outputs, _ = self._run(x_t, False)
            return outputs, [list(l.states) for l in layers]
        return body

    def _step_inputs(self, xs, ys, sws, layers) -> tuple:
        return (self._tensors(xs, self.inputs), self._tensors(ys), self._tensors(sws),
                [list(l.states) for l in layers])

    # ---- public batch methods
    @K.on_own_backend
    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, on_nonfinite: str = "skip"):
        """One gradient step on one batch; returns the loss (and metrics) of that batch (`on_nonfinite` as in fit)."""
        owner = f"{self.owner}.train_on_batch"
        on_nonfinite = fit_loop.check_on_nonfinite(on_nonfinite, owner)
        xs, ys, sws = self.prepare(x, y, sample_weight, class_weight, "train_on_batch")
        with fit_loop.states_kept_on_error(self):
            values, metrics = self.train_step(xs, ys, sws, on_nonfinite, owner)
        if on_nonfinite == "skip" and not math.isfinite(values[0][1]):
            fit_loop.warn_skipped(owner, 1, 1)
        return _scalars(values, metrics)

    @K.on_own_backend
    def test_on_batch(self, x, y, sample_weight=None):
        """The loss (and metrics) of one batch, without training."""
        xs, ys, sws = self.prepare(x, y, sample_weight, None, "test_on_batch")
        with fit_loop.states_kept_on_error(self):
            return _scalars(*self.test_step(xs, ys, sws))

    @K.on_own_backend
    def predict_on_batch(self, x):
        """The outputs for one batch, as NumPy arrays."""
        xs = self.input_arrays(x, "predict_on_batch")
        if data.check_lengths({"x": xs}, f"{self.owner}.predict_on_batch") == 0:
            out = self._empty_outputs(xs)  # as tf.keras: empty outputs, without running the layers
        else:
            with fit_loop.states_kept_on_error(self):
                out = self.predict_step(xs)
        return out[0] if len(out) == 1 else out

    def _empty_outputs(self, xs: list) -> list:
        shapes = [a.shape for a in xs]
        out = self.compute_output_shape(shapes if len(shapes) > 1 else shapes[0])
        out = list(out) if len(self.outputs) > 1 else [out]
        return [np.zeros((0,) + tuple(0 if d is None else int(d) for d in s[1:]), K.floatx()) for s in out]

    # ---- whole datasets
    @K.on_own_backend
    @keras1_aliases({"nb_epoch": "epochs"})
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            on_nonfinite: str = "skip", distribute=None, **kwargs):
        """Train for `epochs` (Keras 1: `nb_epoch`) over the data in batches; returns a `History`.

        `on_nonfinite`: a batch whose loss is nan/inf is not applied ('skip', the default: one warning per epoch,
        the loss still logged for `TerminateOnNaN`), stops training with an error ('raise') or is applied ('apply').
        `distribute`: a `multirnn.distribute.DataParallel` (or the enclosing `with DataParallel():` scope's)."""
        if kwargs:
            raise TypeError(f"{self.owner}.fit: unexpected keyword argument(s) {', '.join(map(repr, kwargs))}")
        return fit_loop.fit_loop(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                                 validation_data, shuffle, class_weight, sample_weight, initial_epoch, on_nonfinite,
                                 distribute)

    @K.on_own_backend
    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, sample_weight=None, callbacks=None, distribute=None):
        """The loss (and metrics) over the data: a scalar, or a list in `metrics_names` order."""
        owner = f"{self.owner}.evaluate"
        batch_size, verbose = data.check_batch_size(batch_size, owner), fit_loop.check_verbose(verbose, owner)
        xs, ys, sws = self.prepare(x, y, sample_weight, None, "evaluate")
        with fit_loop.states_kept_on_error(self):
            logs = fit_loop.evaluate_loop(self, xs, ys, sws, batch_size, verbose, callbacks, distribute=distribute)
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    @K.on_own_backend
    def predict(self, x, batch_size=None, verbose=0, callbacks=None, distribute=None):
        """The outputs for all samples, computed in batches; NumPy arrays."""
        owner = f"{self.owner}.predict"
        batch_size, verbose = data.check_batch_size(batch_size, owner), fit_loop.check_verbose(verbose, owner)
        xs = self.input_arrays(x, "predict")
        data.check_samples(data.check_lengths({"x": xs}, owner), owner)
        with fit_loop.states_kept_on_error(self):
            out = fit_loop.predict_loop(self, xs, batch_size, verbose, callbacks, distribute)
        return out[0] if len(out) == 1 else out

    # ---- from generators and Sequences (Keras 2 names; Keras 1 names and sample counts accepted)
    @K.on_own_backend
    @keras1_aliases(dict(GENERATOR_ALIASES, nb_epoch="epochs"))
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                      validation_data=None, validation_steps=None, class_weight=None, max_queue_size=10,
                      workers=1, use_multiprocessing=False, shuffle=True, initial_epoch=0,
                      samples_per_epoch=None, nb_val_samples=None, on_nonfinite: str = "skip"):
        """Train on batches `(x, y[, sample_weight])` from a generator or a `utils.Sequence`; returns a `History`.

        Keras 1's `samples_per_epoch`/`nb_val_samples` count samples instead of batches; `on_nonfinite` as in fit."""
        where = f"{self.owner}.fit_generator"
        _threads_only(where, use_multiprocessing)
        epochs, initial_epoch = fit_loop.check_epochs(epochs, initial_epoch, where)
        verbose, shuffle = fit_loop.check_verbose(verbose, where), fit_loop.check_shuffle(shuffle, where)
        on_nonfinite = fit_loop.check_on_nonfinite(on_nonfinite, where)
        return generators.fit_generator(
            self, generator, steps_per_epoch, _count(where, "samples_per_epoch", samples_per_epoch), epochs,
            verbose, callbacks, validation_data, validation_steps, _count(where, "nb_val_samples", nb_val_samples),
            class_weight, max_queue_size, workers, shuffle, initial_epoch, on_nonfinite)

    @K.on_own_backend
    @keras1_aliases(GENERATOR_ALIASES)
    def evaluate_generator(self, generator, steps=None, max_queue_size=10, workers=1, use_multiprocessing=False,
                           verbose=0, callbacks=None, val_samples=None):
        """The loss (and metrics) over `steps` batches `(x, y[, sample_weight])` of a generator or Sequence."""
        self.require_compiled("evaluate_generator")
        logs = self._from_generator("evaluate_generator", generators.evaluate_generator, generator, steps,
                                    max_queue_size, workers, use_multiprocessing, verbose, callbacks, val_samples)
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    @K.on_own_backend
    @keras1_aliases(GENERATOR_ALIASES)
    def predict_generator(self, generator, steps=None, max_queue_size=10, workers=1, use_multiprocessing=False,
                          verbose=0, callbacks=None, val_samples=None):
        """The outputs for `steps` batches of inputs (or `(x, y)` tuples, whose `x` is used) of a generator."""
        out = self._from_generator("predict_generator", generators.predict_generator, generator, steps,
                                   max_queue_size, workers, use_multiprocessing, verbose, callbacks, val_samples)
        return out[0] if len(out) == 1 else out

    def _from_generator(self, method, run, generator, steps, max_queue_size, workers, use_multiprocessing, verbose,
                        callbacks, val_samples):
        """`run(model, batches, steps, samples, verbose, callbacks)` over the batches of `generator`."""
        where = f"{self.owner}.{method}"
        _threads_only(where, use_multiprocessing)
        samples, verbose = _count(where, "val_samples", val_samples), fit_loop.check_verbose(verbose, where)
        batches = generators.Batches(generator, workers, max_queue_size, False, where)
        try:
            with fit_loop.states_kept_on_error(self):
                return run(self, batches, batches.steps(steps, "steps", samples, "val_samples"), samples, verbose,
                           callbacks)
        finally:
            batches.close()

    def predict_proba(self, x, batch_size=None, verbose=0):
        """Keras 1: the predicted probabilities (the model's outputs)."""
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def predict_classes(self, x, batch_size=None, verbose=0):
        """Keras 1: the argmax class per sample, or 0/1 by thresholding a single sigmoid output at 0.5."""
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if isinstance(proba, list):
            raise InvalidArgumentError(f"{self.owner}.predict_classes needs a model with one output")
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")


def _count(where: str, name: str, value):
    """A Keras 1 sample count: None or a positive int."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise InvalidArgumentError(f"{where}: {name} must be a positive int, got {value!r}")
    return value


def _threads_only(where: str, use_multiprocessing) -> None:
    if use_multiprocessing:
        raise InvalidArgumentError(f"{where}: use_multiprocessing=True (Keras 1: pickle_safe) is not supported; "
                                   "batches are drawn by threads, set workers=N for N threads")


def _host(x):
    return np.asarray(K.to_numpy(x), dtype=np.float64)


def _as_tensor(x):
    """A step's total loss as a tensor (a model without losses adds up to the float 0.0)."""
    return x if K.is_tensor(x) else K.constant(x)


def _put_states(layers, states) -> None:
    """Give each stateful layer its states (a compiled step's results, or its arguments while traced)."""
    for layer, values in zip(layers, states):
        layer.states = list(values)


def _scalars(values, metrics):
    """A scalar loss, or [loss, output losses..., metrics...] averaged over the batch."""
    averages = fit_loop.Averages()
    averages.add(values, metrics, 1)
    out = list(averages.result().values())
    return out[0] if len(out) == 1 else out
