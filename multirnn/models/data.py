"""Host-side data handling for training: arrays per input/output, checks, batches, sample weights."""
import numpy as np

from multirnn import backend as K


def as_arrays(data, names: list, what: str, owner: str) -> list:
    """`data` (an array, a list of arrays, or a dict keyed by name) as one NumPy array per name."""
    if data is None:
        raise ValueError(f"{owner}: no {what} data given")
    if isinstance(data, dict):
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"{owner}: unknown {what} name(s) {', '.join(map(repr, unknown))}; "
                             f"the model's {what}s are {', '.join(map(repr, names))}")
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"{owner}: no data for {what}(s) {', '.join(map(repr, missing))}")
        arrays = [data[n] for n in names]
    elif isinstance(data, (list, tuple)) and not _is_scalar_list(data):
        arrays = list(data)
    else:
        arrays = [data]
    if len(arrays) != len(names):
        raise ValueError(f"{owner} expects {len(names)} {what} array(s) ({', '.join(names)}), "
                         f"got {len(arrays)}")
    out = []
    for name, a in zip(names, arrays):
        a = np.asarray(a)
        if a.ndim == 0:
            raise ValueError(f"{owner}: {what} {name!r} must be an array with a batch axis, got a scalar")
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{owner}: {what} {name!r} must hold numbers, got dtype {a.dtype}")
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
                raise ValueError(f"{owner}: {what} {name!r} expects arrays of shape {tuple(shape)} "
                                 f"(None = any), got shape {a.shape}")
        out.append(a)
    return out


def check_lengths(groups: dict, owner: str) -> int:
    """All arrays must have as many samples; the message names each group's counts."""
    counts = {what: sorted({len(a) for a in arrays}) for what, arrays in groups.items() if arrays}
    every = sorted({n for c in counts.values() for n in c})
    if len(every) > 1:
        detail = "; ".join(f"{what}: {', '.join(map(str, c))}" for what, c in counts.items())
        raise ValueError(f"{owner}: all arrays must have the same number of samples, got {detail}")
    return every[0] if every else 0


def batch_indices(count: int, batch_size: int, shuffle) -> list:
    """Index arrays of each batch; shuffling draws from the shared host generator."""
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    order = np.arange(count)
    if shuffle == "batch":
        starts = np.arange(0, count, batch_size)
        starts = starts[K.host_random.generator().permutation(len(starts))]
        return [order[s:s + batch_size] for s in starts]
    if shuffle:
        order = K.host_random.generator().permutation(count)
    return [order[s:s + batch_size] for s in range(0, count, batch_size)]


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
                raise ValueError(f"{owner}: sample_weight for output {output_names[i]!r} must have {expected} "
                                 f"dimension(s){hint}, got shape {w.shape}")
            if len(w) != len(y):
                raise ValueError(f"{owner}: sample_weight for output {output_names[i]!r} has {len(w)} samples "
                                 f"but its target has {len(y)}")
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
            raise ValueError(f"{owner}: {what} given for unknown output name(s) {', '.join(map(repr, unknown))}; "
                             f"the outputs are {', '.join(map(repr, names))}")
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)) and not (data and len(names) == 1):
        if len(value) != len(names):
            raise ValueError(f"{owner}: {what} is a list of {len(value)} but the model has {len(names)} "
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
        raise ValueError(f"{owner}: class_weight needs targets of shape (samples,) or (samples, classes) for "
                         f"output {name!r}, got {y.shape}; use sample_weight (mode 'temporal') instead")
    labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else np.round(y.reshape(len(y), -1)[:, 0])
    labels = labels.astype(np.int64).reshape(len(y), -1)[:, 0]
    missing = sorted(set(labels.tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ValueError(f"{owner}: class_weight for output {name!r} has no entry for class(es) {missing}")
    return np.array([float(class_weight[int(c)]) for c in labels])


def take(arrays: list, index) -> list:
    return [None if a is None else a[index] for a in arrays]
