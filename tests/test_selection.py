"""Choosing a backend: environment variable, config file, default, `use()`, and the error messages."""
import json
import os
import subprocess
import sys
import threading
import types

import numpy as np
import pytest

from multirnn import backend as K
from multirnn import backends
from multirnn import __main__ as cli
from multirnn.backends import frameworks

from conftest import needs_torch

VALID = "valid names: numpy, cupy, tensorflow, torch"
CUPY_NO_DEVICE = "The cupy backend needs a CUDA device, but CuPy found none ("


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No MULTIRNN_BACKEND, an empty MULTIRNN_HOME, no cached default, a private backend cache."""
    monkeypatch.delenv("MULTIRNN_BACKEND", raising=False)
    monkeypatch.setenv("MULTIRNN_HOME", str(tmp_path))
    monkeypatch.setattr(backends, "_default", None)
    monkeypatch.setattr(backends, "_loaded", dict(backends._loaded))
    return tmp_path


def _write_config(home, **keys):
    (home / "multirnn.json").write_text(json.dumps(keys))


def _one_line(error: BaseException) -> str:
    """The message, checked to be one line that hides the framework's own traceback."""
    message = str(error)
    assert "\n" not in message
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return message


def _hide(monkeypatch, framework: str):
    """Make `framework` look uninstalled and forget its backend module."""
    monkeypatch.setitem(sys.modules, framework, None)
    backends._loaded.pop(framework, None)
    module = f"multirnn.backends.{backends._MODULES[framework]}"
    monkeypatch.delitem(sys.modules, module, raising=False)


@pytest.fixture
def cupy_without_device(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy"))
    monkeypatch.setattr(frameworks, "cuda_device_count", lambda: 0)
    backends._loaded.pop("cupy", None)


# ---- where the choice comes from

def test_default_is_numpy(isolated):
    assert backends.default_name() == "numpy"
    assert backends.current().name == "numpy" and K.backend() == "numpy"


@needs_torch
def test_environment_variable(isolated, monkeypatch):
    monkeypatch.setenv("MULTIRNN_BACKEND", " PyTorch ")
    assert backends.default_name() == "torch"
    assert backends.current().name == "torch" and K.backend() == "torch"


@needs_torch
def test_config_file(isolated):
    _write_config(isolated, backend="torch")
    assert backends.default_name() == "torch" and K.backend() == "torch"


def test_environment_variable_beats_config_file(isolated, monkeypatch):
    _write_config(isolated, backend="torch")
    monkeypatch.setenv("MULTIRNN_BACKEND", "numpy")
    assert backends.default_name() == "numpy"


def test_config_file_sets_floatx_and_epsilon_at_startup(tmp_path):
    _write_config(tmp_path, backend="numpy", floatx="float64", epsilon=1e-4)
    env = {k: v for k, v in os.environ.items() if k != "MULTIRNN_BACKEND"}
    env["MULTIRNN_HOME"] = str(tmp_path)
    code = "from multirnn import backend as K; print(K.backend(), K.floatx(), K.epsilon(), K.zeros(1).dtype)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["numpy", "float64", "0.0001", "float64"]


# ---- errors: one clear line each

def test_unknown_name_lists_valid_names(isolated, monkeypatch):
    for attempt in (lambda: backends.get("theano"), lambda: backends.use("theano").__enter__()):
        with pytest.raises(ValueError) as info:
            attempt()
        assert _one_line(info.value) == f"Unknown backend 'theano' (backend name); {VALID}"
    monkeypatch.setenv("MULTIRNN_BACKEND", "theano")
    with pytest.raises(ValueError) as info:
        K.zeros(1)
    assert _one_line(info.value) == f"Unknown backend 'theano' (from MULTIRNN_BACKEND); {VALID}"


def test_unknown_name_in_config_file(isolated):
    _write_config(isolated, backend="mxnet")
    with pytest.raises(ValueError) as info:
        backends.current()
    message = _one_line(info.value)
    assert "'mxnet'" in message and str(isolated / "multirnn.json") in message and VALID in message


def test_broken_config_file(isolated):
    (isolated / "multirnn.json").write_text("{backend: numpy")
    with pytest.raises(ValueError, match="Cannot read multirnn config file"):
        backends.default_name()


@pytest.mark.parametrize("framework", ["torch", "tensorflow", "cupy"])
def test_missing_framework_names_the_extra(isolated, monkeypatch, framework):
    _hide(monkeypatch, framework)
    monkeypatch.setenv("MULTIRNN_BACKEND", framework)
    for attempt in (lambda: backends.get(framework), lambda: backends.use(framework).__enter__(),
                    lambda: K.zeros(1)):
        with pytest.raises(ImportError) as info:
            attempt()
        message = _one_line(info.value)
        assert f"pip install 'multirnn[{framework}]'" in message and message.startswith(f"The {framework} backend")
    assert framework not in backends.available()


def test_cupy_without_a_device(isolated, monkeypatch, cupy_without_device):
    monkeypatch.setenv("MULTIRNN_BACKEND", "cupy")
    for attempt in (lambda: backends.get("cupy"), lambda: K.zeros(1)):
        with pytest.raises(RuntimeError) as info:
            attempt()
        assert _one_line(info.value).startswith(CUPY_NO_DEVICE)
    assert "cupy" not in backends.available()


# ---- use(): nesting, threads, what objects belong to

@needs_torch
def test_use_nests_and_restores(isolated):
    with backends.use("torch") as torch_backend:
        assert backends.current() is torch_backend and K.backend() == "torch"
        with backends.use("numpy"):
            assert K.backend() == "numpy"
        assert K.backend() == "torch"
    assert K.backend() == "numpy"
    with pytest.raises(KeyError):
        with backends.use("torch"):
            raise KeyError("inside")
    assert K.backend() == "numpy"


@needs_torch
def test_use_is_per_thread(isolated):
    seen, barrier = {}, threading.Barrier(2, timeout=30)

    def inherits():
        seen["started inside use"] = K.backend()

    def own_choice():
        with backends.use("torch"):
            barrier.wait()  # the main thread is now inside use('numpy')
            seen["own use"] = K.backend()
            barrier.wait()

    with backends.use("torch"):
        thread = threading.Thread(target=inherits)
        thread.start()
        thread.join()
    worker = threading.Thread(target=own_choice)
    worker.start()
    with backends.use("numpy"):
        barrier.wait()
        seen["main meanwhile"] = K.backend()
        barrier.wait()
    worker.join()
    assert seen == {"started inside use": "numpy", "own use": "torch", "main meanwhile": "numpy"}


@needs_torch
def test_objects_belong_to_the_backend_in_force(isolated):
    import torch
    numpy_backend, torch_backend = backends.get("numpy"), backends.get("torch")
    with backends.use("torch"):
        t, v = K.constant([1.0, 2.0]), K.variable([[1.0]])
    n = K.constant([1.0, 2.0])
    assert isinstance(t, torch.Tensor) and torch_backend.is_tensor(t) and torch_backend.is_variable(v)
    assert isinstance(n, np.ndarray) and numpy_backend.is_tensor(n)
    assert not numpy_backend.is_tensor(t) and not torch_backend.is_variable(n)


def test_available(isolated):
    names = backends.available()
    assert names[0] == "numpy" and names == [n for n in backends.NAMES if n in names]
    assert ("torch" in names) == frameworks.HAS_TORCH
    assert ("tensorflow" in names) == frameworks.HAS_TENSORFLOW
    assert ("cupy" in names) == (frameworks.cuda_device_count() > 0)


# ---- python -m multirnn

def test_info_lists_every_backend(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MULTIRNN_BACKEND"}
    env["MULTIRNN_HOME"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-m", "multirnn", "info"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "active backend: numpy (default)" in lines
    for name in backends.NAMES:
        assert any(line.split()[:2] in ([name, "available"], [name, "unavailable:"]) for line in lines), name
    assert "floatx: float32" in lines and any(line.startswith("devices: cpu") for line in lines)


def test_info_reports_where_the_choice_comes_from(isolated, monkeypatch):
    assert cli._active() == "numpy (default)"
    _write_config(isolated, backend="np")
    assert cli._active() == f"numpy (from {isolated / 'multirnn.json'})"
    monkeypatch.setenv("MULTIRNN_BACKEND", "tf")
    assert cli._active() == "tensorflow (from the MULTIRNN_BACKEND environment variable)"
    monkeypatch.setenv("MULTIRNN_BACKEND", "theano")
    assert cli._active() == f"error: Unknown backend 'theano' (from MULTIRNN_BACKEND); {VALID}"


def test_unknown_subcommand_prints_usage(capsys):
    assert cli.main(["bogus"]) == 2 and cli.main([]) == 2
    assert capsys.readouterr().err.splitlines() == [cli.USAGE, cli.USAGE]
    assert cli.main(["--help"]) == 0 and capsys.readouterr().out.strip() == cli.USAGE
