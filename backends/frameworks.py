"""The one place that knows which optional frameworks are installed; tests skip on these flags."""
import importlib
import importlib.util
import os
import sys

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
HAS_CUPY = importlib.util.find_spec("cupy") is not None
HAS_TF_KERAS = importlib.util.find_spec("tf_keras") is not None
HAS_THREADPOOLCTL = importlib.util.find_spec("threadpoolctl") is not None
HAS_H5PY = importlib.util.find_spec("h5py") is not None
HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

_QUIETED = "MULTIRNN_QUIETED_TF_LOG_LEVEL"  # set beside TF_CPP_MIN_LOG_LEVEL when multirnn chose it
_EXTRA = {"torch": "torch", "tensorflow": "tensorflow", "cupy": "cupy", "tf_keras": "test"}
_MODULE = {"torch": "torch", "tensorflow": "tensorflow", "cupy": "cupy", "tf_keras": "tf_keras"}


def require(framework: str):
    """Import a framework or raise an ImportError that names the pip extra to install.

    TensorFlow's C++ log lines (a CUDA `cuInit` error on machines without a GPU among them) are
    quiet unless the user set `TF_CPP_MIN_LOG_LEVEL`."""
    try:
        ours = os.environ.get(_QUIETED) == os.environ.get("TF_CPP_MIN_LOG_LEVEL", "unset")
        if framework in ("tensorflow", "tf_keras") and ("TF_CPP_MIN_LOG_LEVEL" not in os.environ or ours):
            return _import_quietly(_MODULE[framework])
        return importlib.import_module(_MODULE[framework])
    except ImportError:
        raise ImportError(
            f"The {framework} backend needs the '{_MODULE[framework]}' package, which is not installed; "
            f"install it with: pip install 'multirnn[{_EXTRA[framework]}]'"
        ) from None


def _import_quietly(name: str):
    """Import TensorFlow (or a package that imports it) and find its devices with file descriptor 2
    silenced: TensorFlow writes its start-up lines before its own log level applies."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ[_QUIETED] = "3"  # child processes stay quiet too
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        module = importlib.import_module(name)
        importlib.import_module("tensorflow").config.list_physical_devices()
        return module
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def cuda_device_count() -> int:
    """Number of CUDA devices CuPy can use (0 when CuPy or the driver is missing)."""
    if not HAS_CUPY:
        return 0
    try:
        import cupy
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def torch_cuda_available() -> bool:
    if not HAS_TORCH:
        return False
    import torch
    return bool(torch.cuda.is_available())


def version(framework: str) -> str:
    """The installed version of a framework (importing it), or '?'."""
    return str(getattr(require(framework), "__version__", "?"))


def devices(loaded: list) -> list:
    """The devices the loaded backends see: always 'cpu', then CUDA devices by framework."""
    found = []
    if "torch" in loaded and torch_cuda_available():
        import torch
        found += [f"cuda:{i} {torch.cuda.get_device_name(i)} (torch)" for i in range(torch.cuda.device_count())]
    if cuda_device_count():
        found.append(f"{cuda_device_count()} CUDA device(s) (cupy)")
    if "tensorflow" in loaded:
        gpus = require("tensorflow").config.list_physical_devices("GPU")
        if gpus:
            found.append(f"{len(gpus)} GPU(s) (tensorflow)")
    return ["cpu"] + (found or ["no CUDA device"])
