"""Metrics written with K: per-sample values (batch,) (or (batch, time)), as tf_keras functions.

Every loss name is also a metric. A custom metric `fn(y_true, y_pred)` may return a tensor
or a dict {name: tensor} (e.g. false negatives and false positives at once); the model
averages a tensor over the samples, and each entry of a dict separately, reporting it
under its own key.
"""
from typing import Callable

from multirnn import backend as K
from multirnn import losses


def _matches(a, b):
    return K.cast(K.equal(a, b), K.floatx())


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """mean over the last axis of [y == (ŷ > threshold)]."""
    K.check_broadcast("binary_accuracy", y_true, y_pred, names=("y_true", "y_pred"))
    y_pred = K.cast(K.greater(y_pred, threshold), K.dtype(y_pred))
    return K.mean(_matches(K.cast(y_true, K.dtype(y_pred)), y_pred), axis=-1)


def categorical_accuracy(y_true, y_pred):
    """[argmax y == argmax ŷ] over the last axis."""
    K.check_broadcast("categorical_accuracy", y_true, y_pred, names=("y_true", "y_pred"))
    return _matches(K.argmax(y_true, axis=-1), K.argmax(y_pred, axis=-1))


def _sparse_labels(y_true, y_pred, name):
    """Integer labels with the rank of y_pred minus one ((batch, 1) becomes (batch,))."""
    K.check_sparse_labels(name, y_true, y_pred)
    if K.ndim(y_true) == K.ndim(y_pred):
        y_true = K.squeeze(y_true, -1)
    return K.cast(y_true, "int64")


def sparse_categorical_accuracy(y_true, y_pred):
    """[y == argmax ŷ] for integer labels y."""
    labels = _sparse_labels(y_true, y_pred, "sparse_categorical_accuracy")
    return _matches(labels, K.cast(K.argmax(y_pred, axis=-1), "int64"))


def _in_top_k(y_pred, labels, k):
    """As tf.math.in_top_k: true when fewer than k classes score strictly higher than the label
    (ties at the boundary count as inside)."""
    classes = K.int_shape(y_pred)[-1]
    target = K.sum(y_pred * K.one_hot(labels, classes, K.dtype(y_pred)), axis=-1, keepdims=True)
    higher = K.sum(K.cast(K.greater(y_pred, target), K.floatx()), axis=-1)
    return K.cast(K.less(higher, float(k)), K.floatx())


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """[the class of y is among the k highest scores of ŷ]."""
    K.check_broadcast("top_k_categorical_accuracy", y_true, y_pred, names=("y_true", "y_pred"))
    return _in_top_k(y_pred, K.argmax(y_true, axis=-1), k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    return _in_top_k(y_pred, _sparse_labels(y_true, y_pred, "sparse_top_k_categorical_accuracy"), k)


_METRICS = {f.__name__: f for f in (binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
                                    top_k_categorical_accuracy, sparse_top_k_categorical_accuracy)}
ACCURACY_NAMES = ("accuracy", "acc")
CROSSENTROPY_NAMES = ("crossentropy", "ce")


def names() -> list:
    return sorted(set(_METRICS) | set(ACCURACY_NAMES) | set(CROSSENTROPY_NAMES) | set(losses.names()))


def _loss_name(loss):
    try:
        return losses.name_of(loss) if loss is not None else None
    except ValueError:
        return None


def get(identifier, loss=None, output_shape=None) -> Callable:
    """A metric function from a name or a callable. 'accuracy'/'acc' resolve as Keras does:
    binary when the output's last axis is 1 or the loss is binary_crossentropy, sparse
    categorical when the loss is sparse_categorical_crossentropy, else categorical
    ('crossentropy'/'ce' likewise pick the matching crossentropy)."""
    if callable(identifier):
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(f"metric: expected a name or a function (y_true, y_pred), got {identifier!r}")
    key = identifier.lower()
    if key in ACCURACY_NAMES + CROSSENTROPY_NAMES:
        loss_name = _loss_name(loss)
        accuracy = key in ACCURACY_NAMES
        if (output_shape is not None and output_shape[-1] == 1) or loss_name == "binary_crossentropy":
            return binary_accuracy if accuracy else losses.binary_crossentropy
        if loss_name == "sparse_categorical_crossentropy":
            return sparse_categorical_accuracy if accuracy else losses.sparse_categorical_crossentropy
        return categorical_accuracy if accuracy else losses.categorical_crossentropy
    if key in _METRICS:
        return _METRICS[key]
    try:
        return losses.get(identifier)
    except ValueError:
        raise ValueError(f"Unknown metric {identifier!r}; known: {', '.join(names())}") from None


def name_of(identifier) -> str:
    """The name a metric is reported under: a name as given, else the function's __name__."""
    if isinstance(identifier, str):
        return identifier
    return getattr(identifier, "__name__", type(identifier).__name__)
