"""Loss functions written with K, Keras 2 (tf_keras) semantics.

Each `loss(y_true, y_pred)` reduces only the last axis (or, for the crossentropies, the
class axis): per-sample values of shape (batch,) for outputs (batch, d), (batch, time) for
sequence outputs. The model averages what is left (and applies sample weights).

The three crossentropies take `from_logits=`; a model whose output comes from a sigmoid or softmax
Dense/Activation layer computes them from that layer's pre-activation logits (as tf_keras does, for
the loss and the crossentropy metrics), while probabilities given any other way are clipped at epsilon.
"""
import functools
from typing import Callable

from multirnn import backend as K


def _broadcasting(fn):
    """The loss after a check that y_true and y_pred broadcast together (Keras 2): a ShapeError naming it."""
    @functools.wraps(fn)
    def loss(y_true, y_pred, **kwargs):
        K.check_broadcast(fn.__name__, y_true, y_pred, names=("y_true", "y_pred"))
        return fn(y_true, y_pred, **kwargs)
    return loss


def _cast_like(y_true, y_pred):
    return K.cast(y_true, K.dtype(y_pred)) if K.dtype(y_true) != K.dtype(y_pred) else y_true


@_broadcasting
def mean_squared_error(y_true, y_pred):
    return K.mean(K.square(y_pred - _cast_like(y_true, y_pred)), axis=-1)


@_broadcasting
def mean_absolute_error(y_true, y_pred):
    return K.mean(K.abs(y_pred - _cast_like(y_true, y_pred)), axis=-1)


@_broadcasting
def mean_absolute_percentage_error(y_true, y_pred):
    """100 · mean |(y − ŷ) / max(|y|, epsilon)|."""
    y_true = _cast_like(y_true, y_pred)
    diff = K.abs((y_true - y_pred) / K.maximum(K.abs(y_true), K.epsilon()))
    return 100.0 * K.mean(diff, axis=-1)


@_broadcasting
def mean_squared_logarithmic_error(y_true, y_pred):
    """mean (log(max(ŷ, eps) + 1) − log(max(y, eps) + 1))²."""
    y_true = _cast_like(y_true, y_pred)
    first = K.log(K.maximum(y_pred, K.epsilon()) + 1.0)
    second = K.log(K.maximum(y_true, K.epsilon()) + 1.0)
    return K.mean(K.square(first - second), axis=-1)


def _signed_labels(y_true):
    """tf_keras: labels that are all 0 or 1 become −1 or 1."""
    binary = K.all(K.equal(y_true * (1.0 - y_true), 0.0))
    return K.switch(binary, 2.0 * y_true - 1.0, y_true)


@_broadcasting
def squared_hinge(y_true, y_pred):
    y_true = _signed_labels(_cast_like(y_true, y_pred))
    return K.mean(K.square(K.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


@_broadcasting
def hinge(y_true, y_pred):
    y_true = _signed_labels(_cast_like(y_true, y_pred))
    return K.mean(K.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


@_broadcasting
def categorical_hinge(y_true, y_pred):
    """max(0, 1 + max((1 − y)·ŷ) − sum(y·ŷ))."""
    y_true = _cast_like(y_true, y_pred)
    pos = K.sum(y_true * y_pred, axis=-1)
    neg = K.max((1.0 - y_true) * y_pred, axis=-1)
    return K.maximum(neg - pos + 1.0, 0.0)


@_broadcasting
def logcosh(y_true, y_pred):
    """mean log(cosh(ŷ − y)), computed as x + softplus(−2x) − log 2 (log 2 in full precision;
    tf_keras rounds it to float32 first, a 2e-9 difference in float64)."""
    x = y_pred - _cast_like(y_true, y_pred)
    return K.mean(x + K.softplus(-2.0 * x) - 0.6931471805599453, axis=-1)


@_broadcasting
def binary_crossentropy(y_true, y_pred, from_logits: bool = False):
    return K.mean(K.binary_crossentropy(_cast_like(y_true, y_pred), y_pred, from_logits=from_logits), axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    return K.categorical_crossentropy(_cast_like(y_true, y_pred), y_pred, from_logits=from_logits)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False):
    """Integer targets (batch,) or (batch, 1) (or (batch, time)) against class probabilities (or logits)."""
    return K.sparse_categorical_crossentropy(y_true, y_pred, from_logits=from_logits)


# computed from the logits of a sigmoid/softmax output layer when the model has them
TAKE_LOGITS = (binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy)


@_broadcasting
def kullback_leibler_divergence(y_true, y_pred):
    y_true = K.clip(_cast_like(y_true, y_pred), K.epsilon(), 1.0)
    y_pred = K.clip(y_pred, K.epsilon(), 1.0)
    return K.sum(y_true * K.log(y_true / y_pred), axis=-1)


@_broadcasting
def poisson(y_true, y_pred):
    return K.mean(y_pred - _cast_like(y_true, y_pred) * K.log(y_pred + K.epsilon()), axis=-1)


@_broadcasting
def cosine_proximity(y_true, y_pred):
    """−(cosine similarity) over the last axis: −1 when the vectors point the same way."""
    y_true = K.l2_normalize(_cast_like(y_true, y_pred), axis=-1)
    return -K.sum(y_true * K.l2_normalize(y_pred, axis=-1), axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence
cosine = cosine_similarity = cosine_proximity

_LOSSES = {f.__name__: f for f in (
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error,
    squared_hinge, hinge, categorical_hinge, logcosh, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy, kullback_leibler_divergence, poisson, cosine_proximity)}
ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
           "msle": "mean_squared_logarithmic_error", "kld": "kullback_leibler_divergence",
           "cosine": "cosine_proximity", "cosine_similarity": "cosine_proximity"}


def names() -> list:
    """Every name `get` accepts."""
    return sorted(set(_LOSSES) | set(ALIASES))


def get(identifier) -> Callable:
    """A loss function from its name (any alias, any case) or a callable `fn(y_true, y_pred)`."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        key = ALIASES.get(identifier.lower(), identifier.lower())
        if key in _LOSSES:
            return _LOSSES[key]
        raise ValueError(f"Unknown loss {identifier!r}; known: {', '.join(names())}")
    raise TypeError(f"loss: expected a name or a function (y_true, y_pred), got {identifier!r}")


def name_of(fn) -> str:
    """The canonical name of a loss (e.g. 'mse' -> 'mean_squared_error'); a custom function's __name__."""
    if isinstance(fn, str):
        return get(fn).__name__
    return getattr(fn, "__name__", type(fn).__name__)


def serialize(fn) -> str:
    return name_of(fn)


def deserialize(name, custom_objects=None) -> Callable:
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return get(name)
