"""The loops over batches behind `fit`, `evaluate` and `predict`, with their callbacks and options."""
import contextlib
import math
import os
import sys
import warnings

import numpy as np

from multirnn import callbacks as callbacks_module
from multirnn import distribute as distribute_module
from multirnn.errors import DistributedError, InvalidArgumentError
from multirnn.layers.container import Container
from multirnn.models import data

ON_NONFINITE = ("skip", "apply", "raise")
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_epochs(epochs, initial_epoch, owner: str) -> tuple:
    """`epochs` and `initial_epoch` as ints with 0 <= initial_epoch <= epochs (equal: no training, as Keras)."""
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if not _is_int(value):
            raise TypeError(f"{owner}: {name} must be an int >= 0, got {value!r} of type {type(value).__name__}")
        if value < 0:
            raise InvalidArgumentError(f"{owner}: {name} must be an int >= 0, got {value!r}")
    if initial_epoch > epochs:
        raise InvalidArgumentError(f"{owner}: initial_epoch ({initial_epoch}) is after epochs ({epochs}); "
                                   "epochs is the index of the last epoch + 1, not a count from initial_epoch")
    return int(epochs), int(initial_epoch)


def check_verbose(verbose, owner: str) -> int:
    """`verbose` as 0 (silent), 1 (progress bar) or 2 (one line per epoch); 'auto' is 1, as tf.keras."""
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    if isinstance(verbose, (bool, np.bool_)) or (_is_int(verbose) and verbose in (0, 1, 2)):
        return int(verbose)
    raise InvalidArgumentError(f"{owner}: verbose must be 0, 1, 2 or 'auto', got {verbose!r}")


def check_shuffle(shuffle, owner: str):
    """`shuffle` as True, False or 'batch' (shuffle whole batches)."""
    if isinstance(shuffle, str) and shuffle == "batch":
        return shuffle
    if isinstance(shuffle, (bool, np.bool_)) or (_is_int(shuffle) and shuffle in (0, 1)):
        return bool(shuffle)
    raise InvalidArgumentError(f"{owner}: shuffle must be True, False or 'batch', got {shuffle!r}")


def check_on_nonfinite(value, owner: str) -> str:
    if not isinstance(value, str) or value not in ON_NONFINITE:
        raise InvalidArgumentError(f"{owner}: on_nonfinite must be one of {', '.join(map(repr, ON_NONFINITE))}, "
                                   f"got {value!r}")
    return value


def stateful_layers(model) -> list:
    """The layers inside `model` (through wrappers and nested models) that carry states between batches."""
    out, seen, todo = [], set(), list(getattr(model, "layers", []))
    while todo:
        layer = todo.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, Container):
            todo += layer._sublayers()
        elif getattr(layer, "stateful", False) and getattr(layer, "states", None) is not None:
            out.append(layer)
    return out


def save_states(model) -> list:
    """(layer, its states) for every stateful layer: what `restore_states` puts back."""
    return [(layer, list(layer.states)) for layer in stateful_layers(model)]


def restore_states(saved: list) -> None:
    for layer, states in saved:
        layer.states = list(states)


@contextlib.contextmanager
def states_kept_on_error(model):
    """Put the stateful layers' states back as they were when the block raises."""
    saved = save_states(model)
    try:
        yield
    except BaseException:
        restore_states(saved)
        raise


class Averages:
    """Running means of an epoch: losses weighted by batch size, metric values over unmasked entries."""

    def __init__(self):
        self.totals, self.counts = {}, {}

    def add(self, values, metrics, size: int) -> None:
        for name, v in values:
            self.totals[name] = self.totals.get(name, 0.0) + float(v) * size
            self.counts[name] = self.counts.get(name, 0) + size
        for name, v, mask, weight in metrics:
            v = np.asarray(v, dtype=np.float64)
            m = np.ones(v.shape)
            if mask is not None and mask.shape == v.shape[:mask.ndim] and v.ndim:
                m = m * _spread(mask, v.shape)
            if weight is not None and v.ndim and weight.shape == v.shape[:weight.ndim]:
                m = m * _spread(weight, v.shape)
            if v.ndim:
                total, count = float((v * m).sum()), float(m.sum())
            else:
                total, count = float(v) * size, size
            self.totals[name] = self.totals.get(name, 0.0) + total
            self.counts[name] = self.counts.get(name, 0) + count

    def result(self) -> dict:
        return {name: self.totals[name] / max(self.counts[name], 1) for name in self.totals}


def _spread(a: np.ndarray, shape: tuple) -> np.ndarray:
    """`a` (per sample, or per sample and timestep) broadcast over the trailing axes of `shape`."""
    return np.broadcast_to(a.reshape(a.shape + (1,) * (len(shape) - a.ndim)), shape)


def _callback_list(model, callbacks, verbose, params, history=True, mode="train"):
    items = list(callbacks or [])
    for cb in items:
        if not isinstance(cb, callbacks_module.Callback):
            raise TypeError(f"{model.owner}: callbacks must be Callback instances, got {type(cb).__name__}")
    extra = []
    if history:
        model.history = callbacks_module.History()
        extra.append(model.history)
    if verbose and distribute_module.is_writer():  # one progress bar, on rank 0
        extra.append(callbacks_module.ProgbarLogger(verbose=verbose, mode=mode))
    return callbacks_module.CallbackList(items + extra, model=model, params=params)


def _validation(model, validation_data, validation_split, xs, ys, sws):
    """(train arrays, validation arrays or None) from validation_data or validation_split."""
    if validation_data is not None:
        if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
            raise InvalidArgumentError(f"{model.owner}.fit: validation_data must be (x_val, y_val) or "
                                       f"(x_val, y_val, val_sample_weight), got {type(validation_data).__name__}")
        vx, vy = validation_data[0], validation_data[1]
        vsw = validation_data[2] if len(validation_data) == 3 else None
        return (xs, ys, sws), model.prepare(vx, vy, vsw, None, "fit (validation_data)")
    if validation_split:
        if not 0.0 < validation_split < 1.0:
            raise InvalidArgumentError(f"{model.owner}.fit: validation_split must be in [0, 1), got "
                                       f"{validation_split!r}")
        split = int(len(xs[0]) * (1.0 - validation_split))
        if split == 0 or split == len(xs[0]):
            raise InvalidArgumentError(f"{model.owner}.fit: validation_split={validation_split} leaves "
                                       f"{split} training and {len(xs[0]) - split} validation samples of {len(xs[0])}")
        head, tail = slice(0, split), slice(split, None)
        return (data.take(xs, head), data.take(ys, head), data.take(sws, head)), \
            (data.take(xs, tail), data.take(ys, tail), data.take(sws, tail))
    return (xs, ys, sws), None


def check_stateful_batches(model, count: int, batch_size: int, what: str) -> None:
    """A stateful model needs whole batches of its fixed size: say so before any batch is run."""
    stateful = [layer for layer in getattr(model, "layers", []) if getattr(layer, "stateful", False)]
    if stateful and count % batch_size:
        raise InvalidArgumentError(f"{model.owner}.{what}: layer {stateful[0].name!r} is stateful, so the number of "
                                   f"samples ({count}) must be a multiple of batch_size ({batch_size})")


def fit_loop(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
             class_weight, sample_weight, initial_epoch, on_nonfinite="skip", distribute=None):
    """Train over the data (each rank its shard of every batch under `distribute`); returns the History."""
    owner = f"{model.owner}.fit"
    batch_size = data.check_batch_size(batch_size, owner)
    epochs, initial_epoch = check_epochs(epochs, initial_epoch, owner)
    verbose, shuffle = check_verbose(verbose, owner), check_shuffle(shuffle, owner)
    on_nonfinite = check_on_nonfinite(on_nonfinite, owner)
    xs, ys, sws = model.prepare(x, y, sample_weight, class_weight, "fit")
    (xs, ys, sws), val = _validation(model, validation_data, validation_split, xs, ys, sws)
    count = len(xs[0])
    check_stateful_batches(model, count, batch_size, "fit")
    params = {"batch_size": batch_size, "epochs": epochs, "steps": -(-count // batch_size), "samples": count,
              "verbose": verbose, "do_validation": val is not None, "metrics": list(model.metrics_names)}

    def epoch_batches(epoch):
        for index in data.batch_indices(count, batch_size, shuffle):  # one global order on every rank
            index = _local(model, index)
            yield data.take(xs, index), data.take(ys, index), data.take(sws, index)
    validate = None if val is None else (lambda: evaluate_loop(model, *val, batch_size, 0, None))
    with distribute_module.strategy.attached(model, distribute, "fit"):
        return train_epochs(model, epoch_batches, params, callbacks, verbose, epochs, initial_epoch, validate,
                            on_nonfinite, "fit")


def _strategy(model):
    return getattr(model, "_distribute", None)


def _local(model, index):
    """The rows of a global batch this rank runs (all of them without a strategy)."""
    strategy = _strategy(model)
    return index if strategy is None else index[strategy.shard_of(len(index)).rows()]


def _has_rows(model) -> bool:
    strategy = _strategy(model)
    return strategy is None or strategy.shard is None or strategy.shard.size > 0


def _step_scope(model):
    strategy = _strategy(model)
    return contextlib.nullcontext() if strategy is None or strategy.shard is None else strategy.step_scope()


def _reduced(model, averages, what: str):
    strategy = _strategy(model)
    return averages if strategy is None else strategy.reduce_averages(averages, f"{model.owner}.{what}")


def train_epochs(model, epoch_batches, params, callbacks, verbose, epochs, initial_epoch, validate=None,
                 on_nonfinite="skip", what="fit"):
    """The epochs of `fit` and `fit_generator`: `epoch_batches(epoch)` yields `(xs, ys, sws)` host arrays."""
    owner = f"{model.owner}.{what}"
    if _strategy(model) is None and distribute_module.current() is not None:
        raise DistributedError(f"{owner}: DataParallel shards the arrays of fit, evaluate and predict only; "
                               "a generator's batches cannot be split by rank (pass arrays to fit)")
    cbs = _callback_list(model, callbacks, verbose, params)
    model.stop_training = False
    cbs.on_train_begin()
    logs = {}
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        averages, skipped, steps = Averages(), 0, 0
        for step, (bx, by, bw) in enumerate(epoch_batches(epoch)):
            batch_logs = {"batch": step, "size": len(bx[0])}
            cbs.on_train_batch_begin(step, batch_logs)
            with _step_scope(model):
                values, metrics = model.train_step(bx, by, bw, on_nonfinite,
                                                   f"{owner}: batch {step} of epoch {epoch + 1}")
            steps, skipped = steps + 1, skipped + (on_nonfinite == "skip" and not math.isfinite(values[0][1]))
            if _has_rows(model):
                averages.add(values, metrics, len(bx[0]))
            batch_logs.update(averages.result())
            cbs.on_train_batch_end(step, batch_logs)
            if model.stop_training:
                break
        if skipped:
            warn_skipped(f"{owner}: epoch {epoch + 1}", skipped, steps)
        logs = _reduced(model, averages, f"{what}: the means of epoch {epoch + 1}").result()
        if validate is not None:
            logs.update({f"val_{k}": v for k, v in validate().items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    return model.history


def warn_skipped(where: str, skipped: int, steps: int) -> None:
    """The one warning for updates skipped because their loss was not finite."""
    warnings.warn(f"{where}: the loss of {skipped} of {steps} batch(es) was not finite (nan or inf), so their "
                  "weight updates were skipped (on_nonfinite='skip'); pass on_nonfinite='raise' to stop at such a "
                  "batch or 'apply' to update anyway", RuntimeWarning, stacklevel=_caller_level())


def _caller_level() -> int:
    """The stack level of the first frame outside multirnn, so that warnings point at the user's call."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def evaluate_loop(model, xs, ys, sws, batch_size, verbose, callbacks, history=False, distribute=None) -> dict:
    """Sample-weighted means of the loss and metrics over all batches, in `metrics_names` order."""
    count = data.check_lengths({"x": xs, "y": ys}, f"{model.owner}.evaluate")
    check_stateful_batches(model, count, batch_size, "evaluate")
    params = {"batch_size": batch_size, "steps": -(-count // batch_size), "samples": count, "verbose": verbose}
    batches = ((data.take(xs, i), data.take(ys, i), data.take(sws, i))
               for i in (_local(model, i) for i in data.batch_indices(count, batch_size, False)))
    with distribute_module.strategy.attached(model, distribute, "evaluate"):
        return test_batches(model, batches, params, verbose, callbacks, history)


def test_batches(model, batches, params, verbose, callbacks, history=False) -> dict:
    """Loss and metrics over `(xs, ys, sws)` batches, weighted by batch size (evaluate, evaluate_generator)."""
    cbs = _callback_list(model, callbacks, verbose, params, history=history, mode="test")
    cbs.on_test_begin()
    averages = Averages()
    for step, (bx, by, bw) in enumerate(batches):
        cbs.on_test_batch_begin(step, {"batch": step, "size": len(bx[0])})
        if _has_rows(model):
            values, metrics = model.test_step(bx, by, bw)
            averages.add(values, metrics, len(bx[0]))
        cbs.on_test_batch_end(step, dict(averages.result(), batch=step, size=len(bx[0])))
    logs = _reduced(model, averages, "evaluate: the means").result()
    cbs.on_test_end(logs)
    return logs


def predict_loop(model, xs, batch_size, verbose, callbacks, distribute=None) -> list:
    """All outputs, batch by batch, joined on the host (gathered from every rank in order)."""
    count = len(xs[0])
    check_stateful_batches(model, count, batch_size, "predict")
    params = {"batch_size": batch_size, "steps": -(-count // batch_size), "samples": count, "verbose": verbose}
    batches = (data.take(xs, _local(model, i)) for i in data.batch_indices(count, batch_size, False))
    with distribute_module.strategy.attached(model, distribute, "predict"):
        return predict_batches(model, batches, params, verbose, callbacks)


def predict_batches(model, batches, params, verbose, callbacks) -> list:
    """The outputs for each batch of inputs, joined on the host (predict, predict_generator)."""
    cbs = _callback_list(model, callbacks, verbose, params, history=False, mode="predict")
    cbs.on_predict_begin()
    pieces, strategy = None, _strategy(model)
    for step, bx in enumerate(batches):
        cbs.on_predict_batch_begin(step, {"batch": step, "size": len(bx[0])})
        if _has_rows(model):
            outs = model.predict_step(bx)
            pieces = [[None] * step for _ in outs] if pieces is None else pieces
            for bucket, o in zip(pieces, outs):
                bucket.append(o)
        elif pieces is not None:
            for bucket in pieces:
                bucket.append(None)
        cbs.on_predict_batch_end(step, {"batch": step, "size": len(bx[0])})
    if strategy is not None:
        pieces = strategy.gather_batches(pieces, f"{model.owner}.predict: gathering the outputs")
    cbs.on_predict_end()
    if pieces is None:
        return [np.zeros((0,) + tuple(d or 0 for d in t.symbolic_shape[1:])) for t in model.outputs]
    return [np.concatenate(bucket, axis=0) for bucket in pieces]
