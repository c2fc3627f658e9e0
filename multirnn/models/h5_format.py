"""HDF5 files in the Keras 2 layout (through h5py): weights per layer group, optionally a whole model."""
import json

import numpy as np

from multirnn.errors import FileFormatError, MultirnnError
from multirnn.stored_functions import parse_json


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("HDF5 (.h5) files need the 'h5py' package: pip install h5py "
                          "(or save to a .npz path, which needs only NumPy)") from None
    return h5py


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _write_groups(group, groups) -> None:
    group.attrs["layer_names"] = np.array([name.encode("utf8") for name, _, _ in groups], dtype="S")
    group.attrs["backend"] = b"multirnn"
    group.attrs["keras_version"] = b"2"
    for name, weight_names, arrays in groups:
        layer_group = group.create_group(name)
        stored = []
        for j, (weight_name, array) in enumerate(zip(weight_names, arrays)):
            key = f"{weight_name}:0"
            if key in stored:
                key = f"{weight_name}_{j}:0"
            stored.append(key)
            layer_group.create_dataset(key, data=np.asarray(array))
        layer_group.attrs["weight_names"] = np.array([k.encode("utf8") for k in stored], dtype="S")


def write(fileobj, groups, manifest=None, optimizer_weights=()) -> None:
    """Weights only (manifest None) or a whole model, in the Keras 2 HDF5 layout."""
    h5py = _h5py()
    with h5py.File(fileobj, "w") as f:
        if manifest is None:
            _write_groups(f, groups)
            return
        f.attrs["multirnn_manifest"] = json.dumps({k: v for k, v in manifest.items()
                                                   if k not in ("model_config", "training_config")})
        f.attrs["model_config"] = json.dumps(manifest["model_config"])
        if "training_config" in manifest:
            f.attrs["training_config"] = json.dumps(manifest["training_config"])
        _write_groups(f.create_group("model_weights"), groups)
        if optimizer_weights:
            opt = f.create_group("optimizer_weights")
            names = [f"optimizer/{k}" for k in range(len(optimizer_weights))]
            for name, array in zip(names, optimizer_weights):
                opt.create_dataset(name, data=np.asarray(array))
            opt.attrs["weight_names"] = np.array([n.encode("utf8") for n in names], dtype="S")


def read(path: str):
    """(manifest or None, [(layer name, arrays)], optimizer arrays) from a multirnn or Keras 2 .h5 file;
    a damaged or incomplete file is a FileFormatError naming it and what is wrong."""
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise FileFormatError(f"{path}: h5py cannot open this HDF5 file: damaged or truncated? ({e})") from None
    try:
        with f:
            return _read(f, path)
    except MultirnnError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as e:
        raise FileFormatError(f"{path}: a damaged HDF5 file, reading it failed ({type(e).__name__}: {e})") from None


def _read(f, path: str):
    group = f["model_weights"] if "model_weights" in f else f
    if "layer_names" not in group.attrs:
        raise FileFormatError(f"{path}: an HDF5 file without Keras weights (no 'layer_names' attribute)")
    groups = [(name, _layer_arrays(group, name, path)) for name in (_text(n) for n in group.attrs["layer_names"])]
    optimizer = []
    if "optimizer_weights" in f and "weight_names" in f["optimizer_weights"].attrs:
        opt = f["optimizer_weights"]
        optimizer = [_dataset(opt, _text(n), f"optimizer state {_text(n)!r}", path)
                     for n in opt.attrs["weight_names"]]
    manifest = None
    if "multirnn_manifest" in f.attrs:
        manifest = parse_json(_text(f.attrs["multirnn_manifest"]), f"{path}: manifest")
        if not isinstance(manifest, dict):
            raise FileFormatError(f"{path}: the manifest is not a JSON object, got {type(manifest).__name__}")
        if "model_config" not in f.attrs:
            raise FileFormatError(f"{path}: a multirnn model file without its 'model_config' attribute "
                                  "(the architecture)")
        manifest["model_config"] = parse_json(_text(f.attrs["model_config"]), f"{path}: model_config")
        if "training_config" in f.attrs:
            manifest["training_config"] = parse_json(_text(f.attrs["training_config"]), f"{path}: training_config")
    elif "model_config" in f.attrs:
        manifest = {"format": "keras-h5"}
    return manifest, groups, optimizer


def _layer_arrays(group, name: str, path: str) -> list:
    if name not in group:
        raise FileFormatError(f"{path}: layer {name!r} is listed in 'layer_names' but has no group")
    layer_group = group[name]
    if "weight_names" not in layer_group.attrs:
        if len(layer_group):
            raise FileFormatError(f"{path}: the group of layer {name!r} holds weights but no 'weight_names' "
                                  "attribute listing them")
        return []
    return [_dataset(layer_group, _text(w), f"weight {_text(w)!r} of layer {name!r}", path)
            for w in layer_group.attrs["weight_names"]]


def _dataset(group, key: str, what: str, path: str) -> np.ndarray:
    if key not in group:
        raise FileFormatError(f"{path}: {what} is missing (listed in 'weight_names', no such dataset)")
    try:
        return np.asarray(group[key])
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as e:
        raise FileFormatError(f"{path}: {what} is damaged and cannot be read ({type(e).__name__}: {e})") from None
