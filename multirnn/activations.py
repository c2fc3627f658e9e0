"""Activation functions by name, each written once with K."""
from typing import Callable

from multirnn import backend as K


def tanh(x):
    return K.tanh(x)


def sigmoid(x):
    return K.sigmoid(x)


def hard_sigmoid(x):
    """Keras 1/2 slope: clip(0.2 x + 0.5, 0, 1)."""
    return K.hard_sigmoid(x)


def relu(x, alpha=0.0, max_value=None):
    return K.relu(x, alpha=alpha, max_value=max_value)


def linear(x):
    return x


def softmax(x, axis=-1):
    return K.softmax(x, axis=axis)


def elu(x, alpha=1.0):
    return K.elu(x, alpha)


def softplus(x):
    return K.softplus(x)


def softsign(x):
    return K.softsign(x)


_ALL = {f.__name__: f for f in (tanh, sigmoid, hard_sigmoid, relu, linear, softmax, elu, softplus, softsign)}


def get(identifier, where: str = "activation") -> Callable:
    """An activation from a name, a callable or None (linear); unknown names list the known ones."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _ALL:
        return _ALL[identifier]
    raise ValueError(f"{where}: unknown activation {identifier!r}; known: {', '.join(sorted(_ALL))}")


def builtin_name(fn):
    """The name of one of the activations above (the fused kernels know them), else None."""
    name = getattr(fn, "__name__", None)
    return name if _ALL.get(name) is fn else None


def serialize(fn) -> str:
    """The name of an activation (for get_config); custom callables keep their __name__."""
    return getattr(fn, "__name__", str(fn))
