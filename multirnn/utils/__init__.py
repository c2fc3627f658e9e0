"""Host-side helpers: the random seed, one-hot labels, padding sequences, plotting a history, and the
`Sequence` of batches that `fit_generator` and friends take."""
import typing
from typing import Optional

import numpy as np

from multirnn import backend as K


def set_random_seed(seed: int) -> None:
    """Seed every random draw (initial weights, dropout masks, shuffling) of this thread or asyncio task:
    the same seed gives the same numbers on every backend, whatever other threads draw meanwhile."""
    K.set_random_seed(seed)


class Sequence:
    """Batches by index, as Keras 2's `keras.utils.Sequence`: define `__len__` (batches per epoch) and
    `__getitem__(index) -> (x, y)` or `(x, y, sample_weight)`; `on_epoch_end` runs after every epoch."""

    def __getitem__(self, index: int):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning a batch")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__() returning the number of batches")

    def on_epoch_end(self) -> None:
        """Called after every epoch (shuffle the data here, for instance)."""


def to_categorical(y, num_classes: Optional[int] = None, dtype: str = "float32") -> np.ndarray:
    """Integer class labels (any shape; a trailing axis of 1 is dropped) to one-hot rows."""
    y = np.asarray(y)
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError(f"to_categorical: labels must be integers, got values such as {y.ravel()[:3]}")
    y = y.astype(np.int64)
    shape = y.shape[:-1] if y.ndim > 1 and y.shape[-1] == 1 else y.shape
    y = y.ravel()
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}), "
                         f"got values from {y.min()} to {y.max()}")
    out = np.zeros((y.size, num_classes), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out.reshape(tuple(shape) + (num_classes,))


def pad_sequences(sequences: typing.Sequence, maxlen: Optional[int] = None, dtype: str = "int32", padding: str = "pre",
                  truncating: str = "pre", value=0.0) -> np.ndarray:
    """Pad (or cut) each sequence to `maxlen` (default: the longest), Keras semantics:
    'pre' pads/cuts at the start, 'post' at the end; result (len(sequences), maxlen, ...)."""
    for arg, mode in (("padding", padding), ("truncating", truncating)):
        if mode not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {arg} must be 'pre' or 'post', got {mode!r}")
    try:
        lengths = [len(s) for s in sequences]
    except TypeError:
        raise ValueError("pad_sequences: sequences must be a list of iterables with a length") from None
    if maxlen is None:
        maxlen = max(lengths, default=0)
    sample_shape = next((np.asarray(s).shape[1:] for s in sequences if len(s)), ())
    is_text = np.issubdtype(np.dtype(dtype), np.str_) or np.issubdtype(np.dtype(dtype), np.object_)
    if isinstance(value, str) and not is_text:
        raise ValueError(f"pad_sequences: dtype {dtype!r} cannot hold the padding value {value!r}; "
                         "use dtype=object for text")
    out = np.full((len(lengths), maxlen) + tuple(sample_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or maxlen == 0:
            continue
        part = np.asarray(s, dtype=dtype)[-maxlen:] if truncating == "pre" else np.asarray(s, dtype=dtype)[:maxlen]
        if part.shape[1:] != tuple(sample_shape):
            raise ValueError(f"pad_sequences: sequence {i} has items of shape {part.shape[1:]}, "
                             f"expected {tuple(sample_shape)} like the first non-empty sequence")
        if padding == "post":
            out[i, :len(part)] = part
        else:
            out[i, maxlen - len(part):] = part
    return out


def plot_history(history, path: str, metrics: Optional[typing.Sequence[str]] = None) -> str:
    """Save the curves of a `History` (or its `.history` dict) to a PNG at `path`: one panel
    per quantity, training and validation ('val_' prefix) together. Needs matplotlib."""
    try:
        from matplotlib.figure import Figure  # no pyplot: the user's plotting backend is left alone
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ImportError("plot_history needs matplotlib, which is not installed; "
                          "install it with: pip install matplotlib") from None
    data = getattr(history, "history", history)
    if not isinstance(data, dict) or not data:
        raise ValueError(f"plot_history: expected a History or a non-empty dict of lists, got {history!r}")
    keys = [k for k in data if not k.startswith("val_")] or list(data)
    keys = [k for k in keys if metrics is None or k in metrics]
    fig = Figure(figsize=(6, 2.8 * len(keys)))
    axes = fig.subplots(len(keys), 1, squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        for name in (key, f"val_{key}"):
            if name in data:
                values = list(data[name])
                ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
