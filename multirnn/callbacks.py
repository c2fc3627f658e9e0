"""Callbacks for `fit`/`evaluate`/`predict`: History, the progress bar, early stopping, checkpoints,
learning-rate control, NaN guard, CSV logging, and callbacks from plain functions (Keras 2 semantics)."""
import csv
import math
import os
import sys
import time
from typing import Optional

import numpy as np

from multirnn import distribute

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
          "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
          "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base: override any `on_*` hook; `self.model` and `self.params` are set before training."""

    def __init__(self):
        self.model, self.params = None, {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_batch_begin(self, batch, logs=None):
        """Keras 1 name of `on_train_batch_begin`."""

    def on_batch_end(self, batch, logs=None):
        """Keras 1 name of `on_train_batch_end`."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)


for _hook in _HOOKS:
    if not hasattr(Callback, _hook):
        setattr(Callback, _hook, lambda self, *args, **kwargs: None)


class CallbackList:
    """Forwards every hook to each callback in order."""

    def __init__(self, callbacks=None, model=None, params=None):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if model is not None:
                cb.set_model(model)
            cb.set_params(dict(params or {}))


def _forward(name, indexed):
    if indexed:
        def hook(self, index, logs=None):
            logs = {} if logs is None else logs
            for cb in self.callbacks:
                getattr(cb, name)(index, logs)
    else:
        def hook(self, logs=None):
            logs = {} if logs is None else logs
            for cb in self.callbacks:
                getattr(cb, name)(logs)
    hook.__name__ = name
    return hook


for _hook in _HOOKS:
    setattr(CallbackList, _hook, _forward(_hook, "batch" in _hook or "epoch" in _hook))


class History(Callback):
    """Records the epoch logs: `history.history['loss']`, `history.epoch`."""

    def on_train_begin(self, logs=None):
        self.epoch, self.history = [], {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def format_value(value) -> str:
    """Keras's number format: 4 decimals, or scientific for tiny magnitudes."""
    value = float(value)
    return f"{value:.4f}" if value == 0 or abs(value) > 1e-3 else f"{value:.4e}"


class Progbar:
    """A text progress bar with ETA (rewritten in place on a terminal, one line per update elsewhere)."""

    def __init__(self, target, width=30, verbose=1, interval=0.05, stream=None, dynamic=None):
        self.target, self.width, self.verbose, self.interval = target, width, verbose, interval
        self.stream = stream or sys.stdout
        isatty = getattr(self.stream, "isatty", lambda: False)()
        self.dynamic = isatty or "ipykernel" in sys.modules if dynamic is None else dynamic
        self.start, self.last_update, self.seen = time.time(), 0.0, 0
        self.width_written = 0

    def update(self, current: Optional[int] = None, values=None, finalize=None) -> None:
        """Show progress at step `current` (None: the last step seen; the target may be unknown, None)."""
        current = self.seen if current is None else current
        self.seen = current
        finalize = self.target is not None and current >= self.target if finalize is None else finalize
        now = time.time()
        info = "".join(f" - {k}: {format_value(v)}" for k, v in (values or {}).items())
        if self.verbose == 1 and self.target is None:
            if finalize or now - self.last_update >= self.interval:
                self._write(f"{current}/Unknown - {now - self.start:.0f}s" + info, finalize)
        elif self.verbose == 1:
            if not finalize and (now - self.last_update < self.interval or current >= self.target):
                return
            digits = len(str(self.target))
            bar = f"{current:{digits}d}/{self.target} ["
            done = int(self.width * current / max(self.target, 1))
            bar += "=" * max(done - 1, 0) + (">" if done < self.width else "=") if done else ""
            bar += "." * (self.width - max(done, 0)) + "]"
            elapsed = now - self.start
            if finalize:
                per_step = elapsed / max(current, 1)
                timing = f" - {elapsed:.0f}s {_per_step(per_step)}"
            else:
                eta = elapsed / max(current, 1) * (self.target - current)
                timing = f" - ETA: {_duration(eta)}"
            self._write(bar + timing + info, finalize)
        elif self.verbose == 2 and finalize:
            self.stream.write(f"{current}/{self.target or current} - {now - self.start:.0f}s{info}\n")
            self.stream.flush()
        self.last_update = now

    def _write(self, line: str, finalize: bool) -> None:
        if self.dynamic:
            self.stream.write("\r" + line + " " * max(self.width_written - len(line), 0))
            self.stream.write("\n" if finalize else "")
        else:
            self.stream.write(line + "\n")
        self.width_written = len(line)
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if seconds >= 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


def _per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class ProgbarLogger(Callback):
    """Prints `Epoch i/n` and a progress bar (verbose=1) or one line per epoch (verbose=2)."""

    def __init__(self, verbose=1, mode="train", stream=None):
        super().__init__()
        self.verbose, self.mode, self.stream = verbose, mode, stream
        self.bar = None

    def _new_bar(self):
        self.bar = Progbar(self.params.get("steps", 0), verbose=self.verbose, stream=self.stream)

    def on_epoch_begin(self, epoch, logs=None):
        if self.mode == "train":
            out = self.stream or sys.stdout
            out.write(f"Epoch {epoch + 1}/{self.params.get('epochs', 1)}\n")
            out.flush()
            self._new_bar()

    def _batch(self, batch, logs):
        if self.bar is None:
            self._new_bar()
        values = {k: v for k, v in (logs or {}).items() if k not in ("batch", "size")}
        self.bar.update(batch + 1, values, finalize=False)

    def on_train_batch_end(self, batch, logs=None):
        self._batch(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if self.mode == "test":
            self._batch(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        if self.mode == "predict":
            self._batch(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.mode == "train" and self.bar is not None:
            self.bar.update(self.bar.target, logs, finalize=True)

    def on_test_end(self, logs=None):
        if self.mode == "test" and self.bar is not None:
            self.bar.update(self.bar.target, logs, finalize=True)

    def on_predict_end(self, logs=None):
        if self.mode == "predict" and self.bar is not None:
            self.bar.update(self.bar.target, {}, finalize=True)


class _Monitor(Callback):
    """Shared logic of callbacks that watch one logged quantity for improvement."""

    def __init__(self, monitor, mode, min_delta, baseline=None):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.min_delta, self.baseline = monitor, abs(float(min_delta)), baseline
        increasing = "acc" in monitor or monitor.endswith(("auc", "fmeasure"))
        self.mode = ("max" if increasing else "min") if mode == "auto" else mode
        self.reset()

    def reset(self):
        self.best = (-np.inf if self.mode == "max" else np.inf) if self.baseline is None else self.baseline

    def improved(self, value) -> bool:
        if self.mode == "max":
            return value - self.min_delta > self.best
        return value + self.min_delta < self.best

    def current(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            sys.stderr.write(f"{type(self).__name__}: '{self.monitor}' is not in the logs "
                             f"(available: {', '.join(sorted(logs or {}))}); skipping\n")
        return value


class EarlyStopping(_Monitor):
    """Stop training when `monitor` has not improved by `min_delta` for `patience` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta, baseline)
        self.patience, self.verbose = int(patience), verbose
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, int(start_from_epoch)

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_weights = 0, 0, None
        self.reset()

    def on_epoch_end(self, epoch, logs=None):
        value = self.current(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self.improved(value):
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
        elif self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


class ModelCheckpoint(_Monitor):
    """Save the model (or its weights) after each epoch; `filepath` may hold `{epoch}` and log keys."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", period=1, save_freq="epoch"):
        super().__init__(monitor, mode, 0.0)
        if save_freq != "epoch":
            raise ValueError(f"ModelCheckpoint: only save_freq='epoch' is supported, got {save_freq!r}")
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only, self.period = save_best_only, save_weights_only, int(period)
        self.epochs_since_last_save = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epochs_since_last_save += 1
        if self.epochs_since_last_save < self.period:
            return
        self.epochs_since_last_save = 0
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = self.current(logs)
            if value is None or not self.improved(value):
                if self.verbose and value is not None:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {format_value(self.best)}")
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {format_value(self.best)} to "
                      f"{format_value(value)}, saving model to {path}")
            self.best = value
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by `factor` when `monitor` stalls for `patience` epochs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        if "epsilon" in kwargs:
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected keyword argument(s) {', '.join(map(repr, kwargs))}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor!r}")
        super().__init__(monitor, mode, min_delta)
        self.factor, self.patience, self.verbose = float(factor), int(patience), verbose
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)
        self.wait, self.cooldown_counter = 0, 0

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter = 0, 0
        self.reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["lr"] = get_lr(self.model)
        value = self.current(logs)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.improved(value):
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = get_lr(self.model)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    set_lr(self.model, new)
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new:.4g}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch from `schedule(epoch)` or `schedule(epoch, lr)`."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        try:
            lr = self.schedule(epoch, get_lr(self.model))
        except TypeError:
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, int, np.floating, np.integer)):
            raise ValueError(f"LearningRateScheduler: the schedule must return a number, got {lr!r}")
        set_lr(self.model, float(lr))
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr):.4g}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = get_lr(self.model)


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Append one row per epoch (epoch, then the log keys in sorted order) to a CSV file."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.keys, self.file, self.writer = None, None, None

    def on_train_begin(self, logs=None):
        self.keys, self.file = None, None
        if not distribute.is_writer():  # data parallel: the logs are the same on every rank; rank 0 writes
            return
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self.file = open(self.filename, "a" if self.append else "w", newline="")
        self.keys, self.has_header = None, exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.file is None:
            return
        if self.keys is None:
            self.keys = sorted(logs)
            self.writer = csv.DictWriter(self.file, ["epoch"] + self.keys, delimiter=self.separator)
            if not self.has_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update({k: logs.get(k, "NA") for k in self.keys})
        self.writer.writerow(row)
        self.file.flush()

    def on_train_end(self, logs=None):
        if self.file is not None:
            self.file.close()
            self.file = None


class LambdaCallback(Callback):
    """A callback from plain functions: on_epoch_begin/end(epoch, logs), on_batch_begin/end(batch, logs),
    on_train_begin/end(logs)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None, on_batch_end=None,
                 on_train_begin=None, on_train_end=None, **kwargs):
        super().__init__()
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_batch_begin=on_batch_begin,
                     on_batch_end=on_batch_end, on_train_begin=on_train_begin, on_train_end=on_train_end, **kwargs)
        for name, fn in given.items():
            if name not in _HOOKS + ("on_batch_begin", "on_batch_end"):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}")
            if fn is not None:
                setattr(self, name, fn)


def get_lr(model) -> float:
    """The optimizer's current learning rate."""
    _need_optimizer(model)
    return float(model.optimizer.learning_rate)


def set_lr(model, value: float) -> None:
    """Set the optimizer's learning rate (read at each step)."""
    _need_optimizer(model)
    model.optimizer.learning_rate = float(value)


def _need_optimizer(model):
    if getattr(model, "optimizer", None) is None or not hasattr(model.optimizer, "learning_rate"):
        raise ValueError("this callback needs a compiled model whose optimizer has a learning_rate")
