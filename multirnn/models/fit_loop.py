"""The loops over batches behind `fit`, `evaluate` and `predict`, with their callbacks."""
import numpy as np

from multirnn import callbacks as callbacks_module
from multirnn.models import data


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
    if verbose:
        extra.append(callbacks_module.ProgbarLogger(verbose=verbose, mode=mode))
    return callbacks_module.CallbackList(items + extra, model=model, params=params)


def _validation(model, validation_data, validation_split, xs, ys, sws):
    """(train arrays, validation arrays or None) from validation_data or validation_split."""
    if validation_data is not None:
        if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
            raise ValueError(f"{model.owner}.fit: validation_data must be (x_val, y_val) or "
                             f"(x_val, y_val, val_sample_weight), got {type(validation_data).__name__}")
        vx, vy = validation_data[0], validation_data[1]
        vsw = validation_data[2] if len(validation_data) == 3 else None
        return (xs, ys, sws), model.prepare(vx, vy, vsw, None, "fit (validation_data)")
    if validation_split:
        if not 0.0 < validation_split < 1.0:
            raise ValueError(f"{model.owner}.fit: validation_split must be in [0, 1), got {validation_split!r}")
        split = int(len(xs[0]) * (1.0 - validation_split))
        if split == 0 or split == len(xs[0]):
            raise ValueError(f"{model.owner}.fit: validation_split={validation_split} leaves "
                             f"{split} training and {len(xs[0]) - split} validation samples of {len(xs[0])}")
        head, tail = slice(0, split), slice(split, None)
        return (data.take(xs, head), data.take(ys, head), data.take(sws, head)), \
            (data.take(xs, tail), data.take(ys, tail), data.take(sws, tail))
    return (xs, ys, sws), None


def _check_stateful_batches(model, count: int, batch_size: int) -> None:
    """A stateful model needs whole batches of its fixed size: say so before any update is made."""
    stateful = [layer for layer in getattr(model, "layers", []) if getattr(layer, "stateful", False)]
    if stateful and count % batch_size:
        raise ValueError(f"{model.owner}.fit: layer {stateful[0].name!r} is stateful, so the number of samples "
                         f"({count}) must be a multiple of batch_size ({batch_size})")


def fit_loop(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
             class_weight, sample_weight, initial_epoch):
    """Train over the data; returns the History callback."""
    xs, ys, sws = model.prepare(x, y, sample_weight, class_weight, "fit")
    (xs, ys, sws), val = _validation(model, validation_data, validation_split, xs, ys, sws)
    batch_size = batch_size or 32
    count = len(xs[0])
    _check_stateful_batches(model, count, batch_size)
    params = {"batch_size": batch_size, "epochs": epochs, "steps": -(-count // batch_size), "samples": count,
              "verbose": verbose, "do_validation": val is not None, "metrics": list(model.metrics_names)}

    def epoch_batches(epoch):
        for index in data.batch_indices(count, batch_size, shuffle):
            yield data.take(xs, index), data.take(ys, index), data.take(sws, index)
    validate = None if val is None else (lambda: evaluate_loop(model, *val, batch_size, 0, None))
    return train_epochs(model, epoch_batches, params, callbacks, verbose, epochs, initial_epoch, validate)


def train_epochs(model, epoch_batches, params, callbacks, verbose, epochs, initial_epoch, validate=None):
    """The epochs of `fit` and `fit_generator`: `epoch_batches(epoch)` yields `(xs, ys, sws)` host arrays."""
    cbs = _callback_list(model, callbacks, verbose, params)
    model.stop_training = False
    cbs.on_train_begin()
    logs = {}
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        averages = Averages()
        for step, (bx, by, bw) in enumerate(epoch_batches(epoch)):
            batch_logs = {"batch": step, "size": len(bx[0])}
            cbs.on_train_batch_begin(step, batch_logs)
            values, metrics = model.train_step(bx, by, bw)
            averages.add(values, metrics, len(bx[0]))
            batch_logs.update(averages.result())
            cbs.on_train_batch_end(step, batch_logs)
            if model.stop_training:
                break
        logs = averages.result()
        if validate is not None:
            logs.update({f"val_{k}": v for k, v in validate().items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    return model.history


def evaluate_loop(model, xs, ys, sws, batch_size, verbose, callbacks, history=False) -> dict:
    """Sample-weighted means of the loss and metrics over all batches, in `metrics_names` order."""
    count = data.check_lengths({"x": xs, "y": ys}, f"{model.owner}.evaluate")
    params = {"batch_size": batch_size, "steps": -(-count // batch_size), "samples": count, "verbose": verbose}
    batches = ((data.take(xs, i), data.take(ys, i), data.take(sws, i))
               for i in data.batch_indices(count, batch_size, False))
    return test_batches(model, batches, params, verbose, callbacks, history)


def test_batches(model, batches, params, verbose, callbacks, history=False) -> dict:
    """Loss and metrics over `(xs, ys, sws)` batches, weighted by batch size (evaluate, evaluate_generator)."""
    cbs = _callback_list(model, callbacks, verbose, params, history=history, mode="test")
    cbs.on_test_begin()
    averages = Averages()
    for step, (bx, by, bw) in enumerate(batches):
        cbs.on_test_batch_begin(step, {"batch": step, "size": len(bx[0])})
        values, metrics = model.test_step(bx, by, bw)
        averages.add(values, metrics, len(bx[0]))
        cbs.on_test_batch_end(step, dict(averages.result(), batch=step, size=len(bx[0])))
    logs = averages.result()
    cbs.on_test_end(logs)
    return logs


def predict_loop(model, xs, batch_size, verbose, callbacks) -> list:
    """All outputs, batch by batch, joined on the host."""
    count = len(xs[0])
    params = {"batch_size": batch_size, "steps": -(-count // batch_size), "samples": count, "verbose": verbose}
    batches = (data.take(xs, i) for i in data.batch_indices(count, batch_size, False))
    return predict_batches(model, batches, params, verbose, callbacks)


def predict_batches(model, batches, params, verbose, callbacks) -> list:
    """The outputs for each batch of inputs, joined on the host (predict, predict_generator)."""
    cbs = _callback_list(model, callbacks, verbose, params, history=False, mode="predict")
    cbs.on_predict_begin()
    pieces = None
    for step, bx in enumerate(batches):
        cbs.on_predict_batch_begin(step, {"batch": step, "size": len(bx[0])})
        outs = model.predict_step(bx)
        pieces = [[] for _ in outs] if pieces is None else pieces
        for bucket, o in zip(pieces, outs):
            bucket.append(o)
        cbs.on_predict_batch_end(step, {"batch": step, "size": len(bx[0])})
    cbs.on_predict_end()
    if pieces is None:
        return [np.zeros((0,) + tuple(d or 0 for d in t.symbolic_shape[1:])) for t in model.outputs]
    return [np.concatenate(bucket, axis=0) for bucket in pieces]
