"""Saving and loading: architecture JSON, weights, whole models. No pickle, no code run on load.

Formats, chosen by the file name on save and by the file's first bytes on load:
- `.h5`/`.hdf5` (needs h5py): the Keras 2 layout, so Keras 2 weight files load too: weights in
  one group per layer (attrs `layer_names`, `weight_names`); a whole model adds the attrs
  `model_config`, `training_config` and the groups `model_weights`, `optimizer_weights`.
- anything else: a NumPy `.npz` (NumPy only) holding a JSON manifest and the arrays
  `layer{i}_weight{j}` (and `optimizer{k}`), written and read with `allow_pickle=False`.
Weights are matched to the model's layers by order (layers with weights), or by name.
Writes are atomic (`multirnn/models/atomic.py`); reads check everything and name the file in every error.
"""
import errno
import json
import os
import zipfile
import zlib

import numpy as np

from multirnn import legacy_weights, optimizers
from multirnn import backend as K
from multirnn import distribute
from multirnn.custom_objects import custom_object_scope, current_custom_objects
from multirnn.errors import FileFormatError, InvalidArgumentError, MultirnnError, WeightMismatchError
from multirnn.layers import topology
from multirnn.layers.input import InputLayer
from multirnn.layers.registry import deserialize, serialize
from multirnn.layers.symbolic import SymbolicTensor
from multirnn.models import h5_format
from multirnn.models.atomic import atomic_write
from multirnn.stored_functions import check_safe, parse_json, safe_mode_scope
from multirnn.version import __version__

FORMAT_VERSION = 1
READABLE_VERSIONS = (1,)
_H5_SUFFIXES = (".h5", ".hdf5", ".keras1", ".weights.h5")
_H5_MAGIC = b"\x89HDF\r\n\x1a\n"
_FORMATS = ("multirnn-weights", "multirnn-model")


# ---- the functional graph as a config
def _node_refs(model):
    nodes = {id(n) for n in model._nodes}
    position = {}
    for layer in model.layers:
        own = [n for n in layer.inbound_nodes if id(n) in nodes]
        position.update({id(n): i for i, n in enumerate(own)})
    return position


def _encode(value, ref):
    """Call arguments as JSON: symbolic tensors become `{"__tensor__": [layer, node, index]}`."""
    def leaf(v):
        if isinstance(v, SymbolicTensor):
            return {"__tensor__": ref(v)}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise ValueError(f"cannot serialize a layer call argument of type {type(v).__name__}")
    return K.map_structure(leaf, value)


def _decode(value, resolve):
    def is_tensor_ref(v):
        return isinstance(v, dict) and set(v) == {"__tensor__"}
    return K.map_structure(lambda v: resolve(v["__tensor__"]) if is_tensor_ref(v) else v, value, is_tensor_ref)


def graph_config(model) -> dict:
    """The functional model as layers, the calls between them, its inputs and outputs."""
    position = _node_refs(model)

    def ref(t):
        return [t.node.layer.name, position[id(t.node)], t.node.outputs.index(t)]
    nodes = [{"layer": n.layer.name, "inputs": [ref(t) for t in topology.node_main_inputs(n)],
              "is_list": topology.node_takes_list(n), "args": _encode(list(n.args), ref),
              "kwargs": _encode(dict(n.kwargs), ref)}
             for n in model._nodes if not isinstance(n.layer, InputLayer)]
    return {"name": model.name, "layers": [serialize(layer) for layer in model.layers], "nodes": nodes,
            "input_layers": [ref(t) for t in model.inputs], "output_layers": [ref(t) for t in model.outputs]}


def graph_from_config(cls, config: dict, custom_objects=None):
    """Rebuild a functional model: create each layer, then replay the calls in order."""
    with custom_object_scope(custom_objects):
        layers = {}
        for layer_config in config["layers"]:
            layer = deserialize(layer_config, current_custom_objects())
            layers[layer.name] = layer
        produced = {(name, 0): [layer.output] for name, layer in layers.items() if isinstance(layer, InputLayer)}
        counts = {}

        def resolve(r):
            name, node_index, tensor_index = r
            if (name, node_index) not in produced:
                raise ValueError(f"model config: layer {name!r} call {node_index} is used before it is made")
            return produced[(name, node_index)][tensor_index]
        for node in config["nodes"]:
            layer = layers[node["layer"]]
            inputs = [resolve(r) for r in node["inputs"]]
            out = layer(inputs if node["is_list"] else inputs[0], *_decode(node.get("args", []), resolve),
                        **_decode(node.get("kwargs", {}), resolve))
            index = counts.get(layer.name, 0)
            counts[layer.name] = index + 1
            produced[(layer.name, index)] = list(out) if isinstance(out, (list, tuple)) else [out]
        return cls(inputs=[resolve(r) for r in config["input_layers"]],
                   outputs=[resolve(r) for r in config["output_layers"]], name=config.get("name"))


# ---- architecture JSON
def to_json(model, **kwargs) -> str:
    """The architecture as JSON (no weights)."""
    return json.dumps(dict(serialize(model), multirnn_version=__version__, backend=model.backend_name),
                      default=_json_default, **kwargs)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialize {type(value).__name__} to JSON")


def model_from_config(config: dict, custom_objects=None, safe_mode: bool = True, where="model_from_config"):
    """A model (or layer) from `{'class_name', 'config'}`, built under the current backend."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"{where}: expected a dict with 'class_name' and 'config', got {type(config).__name__}")
    if safe_mode:
        check_safe(config, where, custom_objects)
    with custom_object_scope(custom_objects), safe_mode_scope(safe_mode):
        return deserialize({"class_name": config["class_name"], "config": config["config"]},
                           current_custom_objects())


def model_from_json(json_string: str, custom_objects=None, safe_mode: bool = True):
    """A model from `to_json()`; Lambda layers are refused unless `safe_mode=False`."""
    config = parse_json(json_string, "model_from_json")
    return model_from_config(config, custom_objects, safe_mode, "model_from_json")


# ---- weights
def weight_groups(model) -> list:
    """[(layer name, [weight names], [arrays])] for the model's top-level layers."""
    return [(layer.name, [f"{layer.name}/{layer.weight_name(w)}" for w in layer.weights], layer.get_weights())
            for layer in model.layers]


def set_weight_groups(model, groups, by_name=False, skip_mismatch=False, source="the file") -> None:
    """Set the model's weights from [(layer name, arrays)] read from `source`: every count, shape and
    dtype is checked first, and nothing is written unless all of them fit."""
    owner = f"{type(model).__name__} {model.name!r}"
    targets = [layer for layer in model.layers if layer.weights]
    groups = [(name, arrays) for name, arrays in groups if arrays]
    with K.use(model.backend_name):
        if by_name:
            by = {layer.name: layer for layer in targets}
            pairs = [(by[name], name, _older_layout(by[name], arrays, owner, name, source))
                     for name, arrays in groups if name in by]
            if skip_mismatch:
                pairs = [p for p in pairs if not _mismatch(p[0], p[2])]
        elif len(groups) != len(targets):
            raise WeightMismatchError(
                f"{owner}: {source} holds weights for {len(groups)} layer(s) ({', '.join(n for n, _ in groups)}) "
                f"but the model has {len(targets)} layer(s) with weights ({', '.join(t.name for t in targets)})")
        else:
            pairs = [(layer, name, _older_layout(layer, arrays, owner, name, source))
                     for layer, (name, arrays) in zip(targets, groups)]
        for layer, name, arrays in pairs:
            problem = _misfit(layer, arrays)
            if problem:
                raise WeightMismatchError(f"{owner}: loading weights of {name!r} from {source} into layer "
                                          f"{layer.name!r}: {problem}; nothing was loaded")
    for layer, _, arrays in pairs:
        layer.set_weights(arrays)


def _older_layout(layer, arrays, owner, name, source) -> list:
    """A Keras 1 per-gate LSTM/GRU list or a Keras 2.1 cuDNN list converted to the Keras 2 layout (as Keras's
    HDF5 loader does)."""
    try:
        return legacy_weights.accept(arrays, layer)
    except ValueError as e:
        raise WeightMismatchError(f"{owner}: loading weights of {name!r} from {source}: {e}; nothing was loaded") \
            from None


def _misfit(layer, arrays):
    """What keeps `arrays` from being the layer's weights, or None when they fit."""
    params = layer.weights
    if len(arrays) != len(params):
        return (f"{type(layer).__name__} {layer.name!r} expects {len(params)} arrays "
                f"({', '.join(layer.weight_name(p) for p in params)}), got {len(arrays)}")
    for p, a in zip(params, arrays):
        shape, a = tuple(K.int_shape(p)), np.asarray(a)
        if a.dtype.kind != np.dtype(K.dtype(p)).kind:
            return f"weight {layer.weight_name(p)!r} expects a {K.dtype(p)} array, got dtype {a.dtype}"
        if a.shape != shape:
            return f"weight {layer.weight_name(p)!r} expects shape {shape}, got {a.shape}"
    return None


def _mismatch(layer, arrays) -> bool:
    """Counts or shapes differ: what `skip_mismatch` skips (a wrong dtype is still an error)."""
    shapes = [tuple(K.int_shape(w)) for w in layer.weights]
    return len(shapes) != len(arrays) or any(s != np.shape(a) for s, a in zip(shapes, arrays))


def save_weights(model, path, overwrite: bool = True) -> None:
    """Write the weights: Keras 2 HDF5 for `.h5`/`.hdf5`, else the portable `.npz`."""
    model._require_built("weights to save")
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save_weights: {path} exists and overwrite=False")
    groups = weight_groups(model)
    if not distribute.is_writer():  # data parallel: the weights are the same on every rank; rank 0 writes
        return
    if path.lower().endswith(_H5_SUFFIXES):
        atomic_write(path, lambda f: h5_format.write(f, groups, None))
    else:
        atomic_write(path, lambda f: _write_npz(f, {"format": "multirnn-weights", "version": FORMAT_VERSION},
                                                 groups, []))


def load_weights(model, path, by_name: bool = False, skip_mismatch: bool = False) -> None:
    """Read weights saved by `save_weights` or `save`, or a Keras 2 `.h5` weight/model file."""
    model._require_built("weights to load into")
    manifest, groups, _ = read_file(os.fspath(path))
    set_weight_groups(model, groups, by_name, skip_mismatch, os.fspath(path))


# ---- whole models
def save_model(model, path, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Write architecture, weights and (if compiled) the training config and optimizer state."""
    model._require_built("weights to save")
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save: {path} exists and overwrite=False")
    manifest = {"format": "multirnn-model", "version": FORMAT_VERSION, "multirnn_version": __version__,
                "backend": model.backend_name, "model_config": serialize(model)}
    optimizer_weights = []
    if include_optimizer and getattr(model, "optimizer", None) is not None and model._compiled is not None:
        manifest["training_config"] = dict(model._compiled.config(),
                                           optimizer_config=optimizers.serialize(model.optimizer))
        with K.use(model.backend_name):
            optimizer_weights = [np.asarray(w) for w in model.optimizer.get_weights()]
    json.dumps(manifest, default=_json_default)  # fail before touching the file
    groups = weight_groups(model)
    if not distribute.is_writer():
        return
    if path.lower().endswith(_H5_SUFFIXES):
        atomic_write(path, lambda f: h5_format.write(f, groups, manifest, optimizer_weights))
    else:
        atomic_write(path, lambda f: _write_npz(f, manifest, groups, optimizer_weights))


def load_model(path, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """A model saved by `save`, under the current backend; Lambda layers need `safe_mode=False`."""
    path = os.fspath(path)
    manifest, groups, optimizer_weights = read_file(path)
    if manifest and manifest.get("format") == "keras-h5":
        raise ValueError(f"load_model: {path} is a Keras model file; multirnn reads only its weights: build the "
                         "same model and call model.load_weights(path)")
    if not manifest or "model_config" not in manifest:
        raise ValueError(f"load_model: {path} holds weights only (no architecture); build the model and "
                         "call model.load_weights(path)")
    try:
        model = model_from_config(manifest["model_config"], custom_objects, safe_mode, f"load_model({path!r})")
    except (KeyError, IndexError, TypeError) as e:
        raise FileFormatError(f"{path}: the model_config is damaged: {type(e).__name__} {e}") from None
    set_weight_groups(model, groups, source=path)
    training = manifest.get("training_config")
    if compile and training:
        with custom_object_scope(custom_objects):
            optimizer = optimizers.deserialize(training["optimizer_config"], custom_objects)
            model.compile(optimizer, loss=_unnamed(training["loss"]), metrics=_unnamed(training.get("metrics")),
                          loss_weights=_unnamed(training.get("loss_weights")),
                          sample_weight_mode=_unnamed(training.get("sample_weight_mode")),
                          weighted_metrics=_unnamed(training.get("weighted_metrics")))
        if optimizer_weights:
            optimizer.build(model.trainable_weights)
            try:
                optimizer.set_weights(optimizer_weights)
            except InvalidArgumentError as e:
                raise WeightMismatchError(f"{path}: the saved optimizer state does not fit the model: {e}") \
                    from None
    return model


def check_version(manifest: dict, path: str) -> None:
    """Refuse a file written in a format version this multirnn cannot read."""
    version = manifest.get("version", 1)
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise FileFormatError(f"{path}: format version {version!r} is not one this multirnn reads "
                              f"(it reads {', '.join(map(str, READABLE_VERSIONS))}); a newer multirnn wrote it?")


def check_manifest(manifest, path: str, layers: bool = True) -> None:
    """Refuse a manifest that lacks what a multirnn file holds: its 'format', the 'layers' with each
    layer's 'name' and 'weights' (npz only), a model's 'model_config' and a sound 'training_config'."""
    if not isinstance(manifest, dict):
        raise FileFormatError(f"{path}: the manifest is not a JSON object, got {type(manifest).__name__}")
    check_version(manifest, path)
    if manifest.get("format") not in _FORMATS:
        got = repr(manifest["format"]) if "format" in manifest else "no 'format'"
        raise FileFormatError(f"{path}: the manifest's 'format' must be one of {', '.join(map(repr, _FORMATS))}, "
                              f"got {got}")
    if layers:
        entries = manifest.get("layers")
        if not isinstance(entries, list):
            raise FileFormatError(f"{path}: the manifest's 'layers' (the layers and their weight names) must be a "
                                  f"list, got {_given(manifest, 'layers')}")
        for i, entry in enumerate(entries):
            for key in ("name", "weights"):
                value = entry.get(key) if isinstance(entry, dict) else None
                if not (isinstance(value, str) if key == "name" else _strings(value)):
                    raise FileFormatError(f"{path}: layer {i} of the manifest needs {key!r} (a "
                                          f"{'string' if key == 'name' else 'list of weight names'}), got "
                                          f"{_given(entry, key) if isinstance(entry, dict) else repr(entry)}")
        count = manifest.get("optimizer_weights", 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise FileFormatError(f"{path}: the manifest's 'optimizer_weights' must be a count, got {count!r}")
    if manifest["format"] != "multirnn-model":
        return
    if not isinstance(manifest.get("model_config"), dict):
        raise FileFormatError(f"{path}: a model file needs 'model_config' (the architecture) in its manifest, "
                              f"got {_given(manifest, 'model_config')}")
    training = manifest.get("training_config")
    if training is not None and not (isinstance(training, dict) and isinstance(training.get("optimizer_config"),
                                                                                dict) and "loss" in training):
        raise FileFormatError(f"{path}: the manifest's 'training_config' needs 'optimizer_config' and 'loss', "
                              f"got {sorted(training) if isinstance(training, dict) else repr(training)}")


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _given(mapping: dict, key: str) -> str:
    return f"{type(mapping[key]).__name__} {mapping[key]!r}"[:80] if key in mapping else f"no {key!r}"


def _unnamed(per_output):
    """A dict keyed by output name is kept; one that maps a single output is unwrapped."""
    if isinstance(per_output, dict) and len(per_output) == 1:
        return next(iter(per_output.values()))
    return per_output


# ---- files
def _write_npz(f, manifest: dict, groups: list, optimizer_weights: list) -> None:
    manifest = dict(manifest, layers=[{"name": n, "weights": w} for n, w, _ in groups],
                    optimizer_weights=len(optimizer_weights))
    arrays = {"manifest": np.array(json.dumps(manifest, default=_json_default))}
    for i, (_, _, values) in enumerate(groups):
        arrays.update({f"layer{i}_weight{j}": np.asarray(v) for j, v in enumerate(values)})
    arrays.update({f"optimizer{k}": np.asarray(v) for k, v in enumerate(optimizer_weights)})
    np.savez(f, **arrays)


def read_file(path: str):
    """(manifest or None, [(layer name, arrays)], optimizer arrays) from any supported file; a file that
    is not one, or is damaged, is a FileFormatError naming it and what is wrong."""
    head = _head(path)
    if head == _H5_MAGIC:
        manifest, groups, optimizer = h5_format.read(path)
        if manifest and manifest.get("format") != "keras-h5":
            check_manifest(manifest, path, layers=False)
        return manifest, groups, optimizer
    if not head.startswith(b"PK"):
        raise FileFormatError(f"{path} is neither a multirnn .npz file nor an HDF5 (.h5) file "
                              f"(it starts with {head!r})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            manifest, groups, optimizer = _read_npz(npz, path)
    except MultirnnError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as e:
        raise FileFormatError(f"{path}: a damaged or truncated .npz file, not a readable zip archive "
                              f"({type(e).__name__}: {e})") from None
    return (manifest if manifest["format"] == "multirnn-model" else None), groups, optimizer


def _head(path: str) -> bytes:
    if os.path.isdir(path):
        raise FileFormatError(f"{path} is a directory, not a multirnn .npz or HDF5 (.h5) file")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "no such file", path) from None
    if not head:
        raise FileFormatError(f"{path} is empty (0 bytes), not a multirnn .npz or HDF5 (.h5) file: "
                              "an interrupted copy?")
    return head


def _read_npz(npz, path: str):
    files = set(npz.files)
    if "manifest" not in files:
        raise FileFormatError(f"{path} is an .npz file without a multirnn manifest")
    manifest = parse_json(str(_array(npz, files, "manifest", "the manifest", path)), f"{path}: manifest")
    check_manifest(manifest, path)
    groups = [(entry["name"], [_array(npz, files, f"layer{i}_weight{j}", f"weight {w!r} of layer {entry['name']!r}",
                                      path) for j, w in enumerate(entry["weights"])])
              for i, entry in enumerate(manifest["layers"])]
    optimizer = [_array(npz, files, f"optimizer{k}", f"optimizer state array {k}", path)
                 for k in range(manifest.get("optimizer_weights", 0))]
    return manifest, groups, optimizer


def _array(npz, files: set, key: str, what: str, path: str) -> np.ndarray:
    if key not in files:
        raise FileFormatError(f"{path}: {what} is missing (the file has no array {key!r})")
    try:
        return npz[key]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        raise FileFormatError(f"{path}: {what} (array {key!r}) is damaged: {e}") from None
