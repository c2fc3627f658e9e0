"""multirnn: Keras-style recurrent networks written once, run on NumPy, CuPy, TensorFlow, PyTorch."""
__version__ = "0.1.0"

from multirnn import backends  # noqa: E402
from multirnn import backend  # noqa: E402,F401
from multirnn import layers, models  # noqa: E402,F401  (models attaches the node helpers to Layer)
