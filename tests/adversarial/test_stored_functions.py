"""Tampered files and JSON: nothing is imported or run on load unless safe_mode=False or custom_objects allow it."""
import json
import sys

import numpy as np
import pytest

from multirnn import layers, stored_functions
from multirnn.errors import FileFormatError, UnsafeLoadError
from multirnn.layers import Dense, Input, Lambda, merge
from multirnn.models import Merge, Model, Sequential, load_model, model_from_json
from tamper import read_manifest, write_manifest

CANARY = "multirnn_canary_module"


@pytest.fixture
def canary(tmp_path, monkeypatch):
    """A module that leaves a file behind when imported, and a function that does when called."""
    trace = tmp_path / "tripped"
    (tmp_path / f"{CANARY}.py").write_text(
        f"open({str(trace)!r}, 'a').write('imported\\n')\n"
        f"def trip(*args, **kwargs):\n    open({str(trace)!r}, 'a').write('called\\n')\n    return (None, 2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(CANARY, None)
    yield trace
    sys.modules.pop(CANARY, None)


def _keras1_merge_model():
    left, right = Sequential([Dense(2, input_dim=3)]), Sequential([Dense(2, input_dim=3)])
    return Sequential([Merge([left, right], mode=lambda t: t[0] - t[1], output_shape=(2,))])


def _merge_tensors_model():
    a, b = Input(shape=(2,)), Input(shape=(2,))
    return Model([a, b], merge([a, b], mode=lambda t: t[0] + t[1], output_shape=(2,)))


def _lambda_model():
    x = Input(shape=(3,))
    return Model(x, Lambda(lambda t: t * 2.0, output_shape=(3,))(x))


RECORDS = {
    "exact": {"module": CANARY, "name": "trip"},
    "extra key": {"module": CANARY, "name": "trip", "note": "harmless"},
    "many keys": {"module": CANARY, "name": "trip", "defaults": None, "bytecode_version": 3, "x": [1]},
    "no name": {"module": CANARY},
    "nested name": {"module": CANARY, "name": {"module": CANARY, "name": "trip"}},
    "builtins eval": {"module": "builtins", "name": "eval", "k": 1},
    "__import__": {"module": "builtins", "name": "__import__"},
    "bytecode extra": {"bytecode": "AAAA", "name": "f", "module": CANARY},
}

# Every config field that takes a function or a shape: (model builder, path to the field).
FIELDS = {
    "Merge.mode": (_keras1_merge_model, ("layers", 0, "config", "mode", "function")),
    "Merge.mode dict": (_keras1_merge_model, ("layers", 0, "config", "mode")),
    "Merge.output_shape": (_keras1_merge_model, ("layers", 0, "config", "output_shape")),
    "Merge.output_mask": (_keras1_merge_model, ("layers", 0, "config", "output_mask")),
    "merge.mode": (_merge_tensors_model, ("layers", 2, "config", "mode")),
    "merge.output_shape": (_merge_tensors_model, ("layers", 2, "config", "output_shape")),
    "merge.output_mask": (_merge_tensors_model, ("layers", 2, "config", "output_mask")),
    "Lambda.function": (_lambda_model, ("layers", 1, "config", "function")),
    "Lambda.output_shape": (_lambda_model, ("layers", 1, "config", "output_shape")),
    "Lambda.mask": (_lambda_model, ("layers", 1, "config", "mask")),
}


def _set(config, path, value):
    node = config["config"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _tampered_config(builder, path, record):
    config = json.loads(builder().to_json())
    _set(config, path, record)
    return config


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("record", sorted(RECORDS))
def test_tampered_json_imports_nothing(field, record, canary):
    builder, path = FIELDS[field]
    text = json.dumps(_tampered_config(builder, path, RECORDS[record]))
    with pytest.raises(UnsafeLoadError, match="safe_mode=False"):
        model_from_json(text)
    assert not canary.exists() and CANARY not in sys.modules


@pytest.mark.parametrize("suffix", ["npz", "h5"])
@pytest.mark.parametrize("field", ["Merge.output_shape", "Merge.mode", "merge.output_shape", "Lambda.mask"])
def test_tampered_file_imports_nothing(tmp_path, suffix, field, canary):
    if suffix == "h5":
        pytest.importorskip("h5py")
    builder, path = FIELDS[field]
    target = str(tmp_path / f"model.{suffix}")
    builder().save(target)
    manifest = read_manifest(target)
    _set(manifest["model_config"], path, RECORDS["extra key"])
    write_manifest(target, manifest)
    with pytest.raises(UnsafeLoadError, match="safe_mode=False"):
        load_model(target)
    assert not canary.exists() and CANARY not in sys.modules


def test_the_decoder_refuses_even_when_the_precheck_is_skipped(canary):
    """The rule lives in the one decoding function, not only in the walk before it."""
    for record in RECORDS.values():
        with pytest.raises((UnsafeLoadError, FileFormatError)):
            stored_functions.deserialize_function(record)
    with pytest.raises(UnsafeLoadError):
        layers.deserialize(json.loads(json.dumps(layers.serialize(Lambda(lambda t: t)))))
    assert not canary.exists() and CANARY not in sys.modules


def test_custom_objects_supply_a_stored_function_by_name_without_importing(canary):
    def trip(t):
        return t * 3.0
    config = _tampered_config(_lambda_model, ("layers", 1, "config", "function"), RECORDS["extra key"])
    model = model_from_json(json.dumps(config), custom_objects={"trip": trip})
    np.testing.assert_allclose(model.predict(np.ones((2, 3))), 3.0 * np.ones((2, 3)))
    assert not canary.exists() and CANARY not in sys.modules


def test_safe_mode_off_loads_what_the_user_trusts(tmp_path, canary):
    config = _tampered_config(_keras1_merge_model, ("layers", 0, "config", "output_shape"), RECORDS["exact"])
    model = model_from_json(json.dumps(config), safe_mode=False)
    assert canary.read_text() == "imported\ncalled\n"
    assert model.output_shape == (None, 2)


@pytest.mark.parametrize("text", ["eval", "__import__", "os.system", "builtins.exec"])
def test_strings_naming_builtins_are_never_resolved(text, canary):
    """Names in activation, initializer, regularizer, constraint, class and loss fields come from allow-lists."""
    base = json.loads(Sequential([Dense(2, input_dim=3)]).to_json())
    variants = []
    for field, value in (("activation", text), ("kernel_initializer", {"class_name": text, "config": {}}),
                         ("kernel_regularizer", {"class_name": text, "config": {}}),
                         ("kernel_constraint", {"class_name": text, "config": {}})):
        config = json.loads(json.dumps(base))
        config["config"]["layers"][0]["config"][field] = value
        variants.append(config)
    config = json.loads(json.dumps(base))
    config["config"]["layers"][0]["class_name"] = text
    variants.append(config)
    for config in variants:
        with pytest.raises(ValueError, match="nknown"):
            model_from_json(json.dumps(config), safe_mode=False)


def test_deeply_nested_json_is_a_clear_error():
    for text in ("[" * 100000 + "]" * 100000, '{"a":' * 50000 + "1" + "}" * 50000):
        with pytest.raises(FileFormatError, match="nested"):
            model_from_json(text)
    config = json.loads(Sequential([Dense(2, input_dim=3)]).to_json())
    deep = value = {}
    for _ in range(stored_functions.MAX_DEPTH + 5):
        value["x"] = {}
        value = value["x"]
    config["config"]["layers"][0]["config"]["extra"] = deep
    with pytest.raises(FileFormatError, match=f"deeper than {stored_functions.MAX_DEPTH}"):
        model_from_json(json.dumps(config))


def test_huge_json_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(stored_functions, "MAX_JSON_BYTES", 1000)
    with pytest.raises(FileFormatError, match="more than the 1000"):
        model_from_json(json.dumps({"class_name": "Sequential", "config": {"pad": "x" * 2000}}))


@pytest.mark.parametrize("suffix", ["npz", "h5"])
@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_unknown_format_version_is_refused(tmp_path, suffix, version):
    if suffix == "h5":
        pytest.importorskip("h5py")
    target = str(tmp_path / f"model.{suffix}")
    Sequential([Dense(2, input_dim=3)]).save(target)
    manifest = read_manifest(target)
    manifest["version"] = version
    write_manifest(target, manifest)
    with pytest.raises(FileFormatError, match=f"format version {version!r} .*reads 1"):
        load_model(target)
