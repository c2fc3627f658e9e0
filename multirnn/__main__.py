"""`python -m multirnn info`: the active backend, every backend's status, devices, floatx, epsilon."""
import os
import platform
import sys

import numpy

import multirnn
from multirnn import backend as K

USAGE = "usage: python -m multirnn info"


def _active() -> str:
    """The default backend and where it was chosen, or the one-line reason it cannot be chosen."""
    try:
        name = K.default_name()
    except ValueError as e:
        return f"error: {e}"
    if os.environ.get("MULTIRNN_BACKEND"):
        return f"{name} (from the MULTIRNN_BACKEND environment variable)"
    if K.read_user_config().get("backend"):
        return f"{name} (from {K.config_path()})"
    return f"{name} (default)"


def _status(name: str) -> str:
    try:
        K.load(name)
    except (ImportError, RuntimeError) as e:
        return f"unavailable: {e}"
    framework = "numpy" if name == "numpy" else name
    return f"available ({framework} {K.frameworks.version(framework) if name != 'numpy' else numpy.__version__})"


def info() -> None:
    """Print the report."""
    print(f"multirnn {multirnn.__version__} (Python {platform.python_version()})")
    print(f"active backend: {_active()}")
    print("backends:")
    statuses = {name: _status(name) for name in K.NAMES}
    for name, status in statuses.items():
        print(f"  {name:<11}{status}")
    loaded = [n for n, s in statuses.items() if s.startswith("available")]
    print("devices: " + ", ".join(K.frameworks.devices(loaded)))
    print(f"floatx: {K.floatx()}")
    print(f"epsilon: {K.epsilon()}")


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if args != ["info"]:
        print(USAGE, file=sys.stderr)
        return 2
    info()
    return 0


if __name__ == "__main__":
    sys.exit(main())
