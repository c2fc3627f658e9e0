"""multirnn: Keras-style recurrent networks written once, run on NumPy, CuPy, TensorFlow, PyTorch."""
from multirnn import parts
from multirnn.version import __version__  # noqa: F401

parts.install_finder()

from multirnn import backend  # noqa: E402,F401
from multirnn import layers, models  # noqa: E402,F401
