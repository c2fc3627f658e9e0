"""`python -m multirnn info`: the active backend, every backend's status, devices, floatx, epsilon."""
import importlib
import os
import platform
import sys

import multirnn
from multirnn import backends
from multirnn.backends import config, frameworks

USAGE = "usage: python -m multirnn info"
_FRAMEWORK = {"numpy": "numpy", "cupy": "cupy", "tensorflow": "tensorflow", "torch": "torch"}


def _active() -> str:
    """The default backend and where it was chosen, or the one-line reason it cannot be chosen."""
    try:
        name = backends.default_name()
    except ValueError as e:
        return f"error: {e}"
    if os.environ.get("MULTIRNN_BACKEND"):
        return f"{name} (from the MULTIRNN_BACKEND environment variable)"
    if config.read_user_config().get("backend"):
        return f"{name} (from {config.config_path()})"
    return f"{name} (default)"


def _status(name: str) -> str:
    try:
        backends.get(name)
    except (ImportError, RuntimeError) as e:
        return f"unavailable: {e}"
    module = importlib.import_module(_FRAMEWORK[name])
    return f"available ({_FRAMEWORK[name]} {getattr(module, '__version__', '?')})"


def _devices(loaded: list) -> list:
    found = []
    if "torch" in loaded and frameworks.torch_cuda_available():
        import torch
        found += [f"cuda:{i} {torch.cuda.get_device_name(i)} (torch)" for i in range(torch.cuda.device_count())]
    if frameworks.cuda_device_count():
        found.append(f"{frameworks.cuda_device_count()} CUDA device(s) (cupy)")
    if "tensorflow" in loaded:
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            found.append(f"{len(gpus)} GPU(s) (tensorflow)")
    return ["cpu"] + (found or ["no CUDA device"])


def info() -> None:
    """Print the report."""
    print(f"multirnn {multirnn.__version__} (Python {platform.python_version()})")
    print(f"active backend: {_active()}")
    print("backends:")
    statuses = {name: _status(name) for name in backends.NAMES}
    for name, status in statuses.items():
        print(f"  {name:<11}{status}")
    loaded = [n for n, s in statuses.items() if s.startswith("available")]
    print("devices: " + ", ".join(_devices(loaded)))
    print(f"floatx: {config.floatx()}")
    print(f"epsilon: {config.epsilon()}")


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if args != ["info"]:
        print(USAGE, file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    info()
    return 0


if __name__ == "__main__":
    sys.exit(main())
