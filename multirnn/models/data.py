"""Host-side data handling for training: arrays per input/output, checks, batches, sample weights."""
import numpy as np

from multirnn import backend as K
from multirnn import losses
from multirnn.errors import InvalidArgumentError


def as_arrays(data, names: list, what: str, owner: str) -> list:
    """`data` (an array, a list of arrays, or a dict keyed by name) as one NumPy array per name."""
    if data is None:
        raise InvalidArgumentError(f"{owner}: no {what} data given")
    if isinstance(data, dict):
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise InvalidArgumentError(f"{owner}: unknown {what} name(s) {', '.join(map(repr, unknown))}; "
                                       f"the model's {what}s are {', '.join(map(repr, names))}")
        missing = [n for n in names if n not in data]
        if missing:
            raise InvalidArgumentError(f"{owner}: no data for {what}(s) {', '.join(map(repr, missing))}")
        arrays = [data[n] for n in names]
    elif isinstance(data, (list, tuple)) and not _is_scalar_list(data):
        arrays = list(data)
    else:
        arrays = [data]
    if len(arrays) != len(names):
        raise InvalidArgumentError(f"{owner} expects {len(names)} {what} array(s) ({', '.join(names)}), "
                                   f"got {len(arrays)}")
    out = []
    for name, a in zip(names, arrays):
        a = np.asarray(a)
        if a.ndim == 0:
            raise InvalidArgumentError(f"{owner}: {what} {name!r} must be an array with a batch axis, got a scalar")
        if a.dtype.kind not in "biuf":
            raise InvalidArgumentError(f"{owner}: {what} {name!r} must hold numbers, got dtype {a.dtype}")
        out.append(a)
    return out


def _is_scalar_list(data) -> bool:
    return len(data) > 0 and all(np.isscalar(v) for v in data)


def check_shapes(arrays: list, shapes: list, names: list, what: str, owner: str) -> list:
    """Check each array against its symbolic shape (None = any); add the trailing axis Keras adds."""
    out = []
    for a, shape, name in zip(arrays, shapes, names):
        if shape is not None and a.ndim == len(shape) - 1 and shape[-1] == 1:
            a = a[..., None]
        if shape is not None:
            ok = a.ndim == len(shape) and all(e is None or e == d for d, e in zip(a.shape[1:], shape[1:]))
            if not ok:
                raise InvalidArgumentError(f"{owner}: {what} {name!r} expects arrays of shape {tuple(shape)} "
                                           f"(None = any), got shape {a.shape}")
        out.append(a)
    return out


def check_lengths(groups: dict, owner: str) -> int:
    """All arrays must have as many samples; the message names each group's counts."""
    counts = {what: sorted({len(a) for a in arrays}) for what, arrays in groups.items() if arrays}
    every = sorted({n for c in counts.values() for n in c})
    if len(every) > 1:
        detail = "; ".join(f"{what}: {', '.join(map(str, c))}" for what, c in counts.items())
        raise InvalidArgumentError(f"{owner}: all arrays must have the same number of samples, got {detail}")
    return every[0] if every else 0


def batch_indices(count: int, batch_size: int, shuffle) -> list:
    """Index arrays of each batch; shuffling draws from the shared host generator."""
    batch_size = check_batch_size(batch_size, "batch_indices")
    order = np.arange(count)
    if shuffle == "batch":
        starts = np.arange(0, count, batch_size)
        starts = starts[K.host_random.generator().permutation(len(starts))]
        return [order[s:s + batch_size] for s in starts]
    if shuffle:
        order = K.host_random.generator().permutation(count)
    return [order[s:s + batch_size] for s in range(0, count, batch_size)]


def check_batch_size(value, owner: str, default: int = 32) -> int:
    """`batch_size` as a positive int (None: `default`)."""
    if value is None:
        return default
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: batch_size must be a positive int (or None for {default}), "
                        f"got {value!r} of type {type(value).__name__}")
    if value <= 0:
        raise InvalidArgumentError(f"{owner}: batch_size must be a positive int (or None for {default}), got {value!r}")
    return int(value)


def check_samples(count: int, owner: str) -> None:
    """Training and evaluation need at least one sample (as tf.keras)."""
    if count == 0:
        raise InvalidArgumentError(f"{owner}: expected input data to be non-empty, got 0 samples")


def check_nonempty_axes(arrays: list, names: list, owner: str) -> None:
    """Every axis of a model input but the batch axis must hold at least one entry."""
    for a, name in zip(arrays, names):
        empty = [axis for axis, d in enumerate(a.shape) if axis and d == 0]
        if empty:
            raise InvalidArgumentError(f"{owner}: input {name!r} has shape {a.shape}, empty along axis {empty[0]}; "
                                       "every axis but the batch axis needs at least one entry (a recurrent layer "
                                       "needs at least one timestep and one feature)")


def _builtin_loss(fn) -> bool:
    try:
        return losses.get(losses.name_of(fn)) is fn
    except (ValueError, TypeError):
        return False


def _fits(dims, expected) -> bool:
    return len(dims) == len(expected) and all(e is None or e == d for d, e in zip(dims, expected))


def check_targets(arrays: list, shapes: list, names: list, loss_fns: list, owner: str) -> list:
    """Check each target against its output's shape as its loss needs it (Keras 2's rule); returns the
    targets with the trailing axis Keras adds. Custom losses: the rank only; sparse labels: (..., 1) or (...)."""
    out = []
    for a, shape, name, fn in zip(arrays, shapes, names, loss_fns):
        if shape is None or fn is None:
            out.append(a[..., None] if shape is not None and a.ndim == len(shape) - 1 else a)
            continue
        shape, rank = tuple(shape), len(shape)
        sparse, builtin = fn is losses.sparse_categorical_crossentropy, _builtin_loss(fn)
        grow = a.ndim == rank - 1 and (sparse or not builtin or shape[-1] in (1, None))
        b = a[..., None] if grow else a
        if sparse:
            ok = _fits(b.shape[1:], shape[1:-1] + (1,))
            expected = f"shape {shape[:-1]} or {shape[:-1] + (1,)} (None = any)"
        elif builtin:
            ok, expected = _fits(b.shape[1:], shape[1:]), f"shape {shape} (None = any)"
        else:
            ok = b.ndim == rank
            expected = f"rank {rank} or {rank - 1} (output {shape}; only the rank is checked for a custom loss)"
        if not ok:
            labels = fn is losses.categorical_crossentropy and (a.ndim == rank - 1 or a.shape[-1] == 1)
            hint = "; for integer class labels use loss='sparse_categorical_crossentropy'" if labels else ""
            raise InvalidArgumentError(f"{owner}: target for output {name!r} (loss {losses.name_of(fn)!r}) "
                                       f"expects {expected}, got shape {a.shape}{hint}")
        out.append(b)
    return out


def sample_weights_for(sample_weight, class_weight, ys: list, output_names: list, modes: list, owner: str) -> list:
    """One weight array (or None) per output from `sample_weight` and `class_weight`."""
    weights = per_output(sample_weight, output_names, "sample_weight", owner, data=True)
    classes = _per_output_class(class_weight, output_names, owner)
    out = []
    for i, (w, y, mode) in enumerate(zip(weights, ys, modes)):
        if w is not None:
            w = np.asarray(w, dtype=np.float64)
            expected = 2 if mode == "temporal" else 1
            if w.ndim != expected:
                hint = " (sample_weight_mode='temporal' needs (samples, timesteps))" if mode == "temporal" else ""
                raise InvalidArgumentError(f"{owner}: sample_weight for output {output_names[i]!r} must have "
                                           f"{expected} dimension(s){hint}, got shape {w.shape}")
            if len(w) != len(y):
                raise InvalidArgumentError(f"{owner}: sample_weight for output {output_names[i]!r} has {len(w)} "
                                           f"samples but its target has {len(y)}")
        if classes[i] is not None:
            cw = _class_weight_array(classes[i], y, output_names[i], owner)
            w = cw if w is None else w * (cw if w.ndim == 1 else cw[:, None])
        out.append(w)
    return out


def per_output(value, names: list, what: str, owner: str, default=None, data: bool = False) -> list:
    """Spread a single value, a list (one per output) or a dict keyed by output name over the outputs.

    With `data=True` (sample weights, class weights) a model with one output takes a list as
    that output's value, as Keras does."""
    if value is None:
        return [default] * len(names)
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise InvalidArgumentError(f"{owner}: {what} given for unknown output name(s) "
                                       f"{', '.join(map(repr, unknown))}; the outputs are "
                                       f"{', '.join(map(repr, names))}")
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)) and not (data and len(names) == 1):
        if len(value) != len(names):
            raise InvalidArgumentError(f"{owner}: {what} is a list of {len(value)} but the model has {len(names)} "
                                       f"output(s) ({', '.join(names)}); give one per output or a dict keyed by name")
        return list(value)
    return [value] * len(names)


def _per_output_class(value, names, owner):
    if value is None:
        return [None] * len(names)
    if isinstance(value, dict) and value and all(k in names for k in value):
        return [value.get(n) for n in names]
    if isinstance(value, (list, tuple)):
        return per_output(value, names, "class_weight", owner, data=True)
    return [value] * len(names)


def _class_weight_array(class_weight: dict, y, name, owner):
    y = np.asarray(y)
    if y.ndim > 2:
        raise InvalidArgumentError(f"{owner}: class_weight needs targets of shape (samples,) or (samples, classes) for "
                                   f"output {name!r}, got {y.shape}; use sample_weight (mode 'temporal') instead")
    labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else np.round(y.reshape(len(y), -1)[:, 0])
    labels = labels.astype(np.int64).reshape(len(y), -1)[:, 0]
    missing = sorted(set(labels.tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise InvalidArgumentError(f"{owner}: class_weight for output {name!r} has no entry for class(es) {missing}")
    return np.array([float(class_weight[int(c)]) for c in labels])


def take(arrays: list, index) -> list:
    return [None if a is None else a[index] for a in arrays]
