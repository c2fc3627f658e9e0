"""The same mistake in K raises the same multirnn error, with the same message, on every backend: shapes that do
not fit, class labels and one-hot indices out of range, axes out of range. Their legitimate neighbours (shapes that
broadcast, negative axes in range, whole float labels) keep working and agree with NumPy."""
import numpy as np
import pytest
from conftest import BACKENDS

from multirnn import backends, losses, metrics
from multirnn.errors import (ArgumentTypeError, AxisError, DTypeError, IndexOutOfRangeError, InvalidArgumentError,
                             MultirnnError, ShapeError)

BINARY = ("add", "subtract", "multiply", "divide", "pow", "maximum", "minimum", "equal", "not_equal", "greater",
          "greater_equal", "less", "less_equal")
REDUCTIONS = ("sum", "mean", "max", "min", "prod", "std", "var", "any", "all")
ONE_AXIS = ("argmax", "argmin", "softmax", "log_softmax", "l2_normalize", "cumsum", "unstack")
ELEMENTWISE_LOSSES = ("mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
                      "mean_squared_logarithmic_error", "squared_hinge", "hinge", "categorical_hinge", "logcosh",
                      "binary_crossentropy", "kullback_leibler_divergence", "poisson", "cosine_proximity")


def t(K, shape, dtype=None):
    """A tensor of `shape` with distinct positive entries (valid input for log, sqrt and divide)."""
    size = int(np.prod(shape))
    return K.constant((np.arange(size).reshape(shape) % 7 + 1) / 8.0, dtype)


def labels(K, values, dtype="int64"):
    return K.constant(np.array(values), dtype)


def traced_add(K, shape):
    """The gradient of sum(v + b) for a variable v (3, 4), with the operands on the tape (or autograd)."""
    v = K.variable(np.ones((3, 4)))
    return K.value_and_grad(lambda: K.sum(K.add(v, t(K, shape))), [v])[1][0]


def probabilities(K, rows, classes=3):
    return K.constant(np.full((rows, classes), 1.0 / classes))


# (id, error class, built-in it also is, fragments of the message, the mistake)
CASES = [(f"{op} shapes", ShapeError, ValueError, [f"{op}:", "(3, 4)", "(5,)"],
          lambda K, op=op: getattr(K, op)(t(K, (3, 4)), t(K, (5,)))) for op in BINARY]
CASES += [
    ("logical_and shapes", ShapeError, ValueError, ["logical_and:", "(3, 4)", "(5,)"],
     lambda K: K.logical_and(K.greater(t(K, (3, 4)), 0.5), K.greater(t(K, (5,)), 0.5))),
    ("traced add shapes", ShapeError, ValueError, ["add:", "(3, 4)", "(5,)"], lambda K: traced_add(K, (5,))),
    ("where shapes", ShapeError, ValueError, ["where:", "(3, 4)", "(2,)"],
     lambda K: K.where(K.greater(t(K, (3, 4)), 0.5), t(K, (2,)), t(K, (3, 4)))),
    ("switch shapes", ShapeError, ValueError, ["switch:", "(2,)", "(3, 4)"],
     lambda K: K.switch(K.greater(t(K, (2,)), 0.5), t(K, (3, 4)), t(K, (3, 4)))),
    ("matmul contracted", ShapeError, ValueError, ["matmul:", "(3, 4)", "(5, 2)", "size 4", "size 5"],
     lambda K: K.matmul(t(K, (3, 4)), t(K, (5, 2)))),
    ("matmul batch", ShapeError, ValueError, ["matmul:", "(2, 3, 4)", "(3, 4, 5)"],
     lambda K: K.matmul(t(K, (2, 3, 4)), t(K, (3, 4, 5)))),
    ("matmul scalar", ShapeError, ValueError, ["matmul:", "()"], lambda K: K.matmul(t(K, ()), t(K, (3,)))),
    ("dot contracted", ShapeError, ValueError, ["dot:", "(3, 4)", "(5, 2)"],
     lambda K: K.dot(t(K, (3, 4)), t(K, (5, 2)))),
    ("dot 3D contracted", ShapeError, ValueError, ["dot:", "(2, 3, 4)", "(2, 5, 6)"],
     lambda K: K.dot(t(K, (2, 3, 4)), t(K, (2, 5, 6)))),
    ("batch_dot contracted", ShapeError, ValueError, ["batch_dot:", "(2, 3, 4)", "(2, 5, 6)"],
     lambda K: K.batch_dot(t(K, (2, 3, 4)), t(K, (2, 5, 6)))),
    ("batch_dot batch", ShapeError, ValueError, ["batch_dot:", "(2, 3, 4)", "(3, 4, 5)"],
     lambda K: K.batch_dot(t(K, (2, 3, 4)), t(K, (3, 4, 5)))),
    ("batch_dot batch axis", InvalidArgumentError, ValueError, ["batch_dot:", "batch axis"],
     lambda K: K.batch_dot(t(K, (2, 3)), t(K, (2, 3)), axes=0)),
    ("concatenate ranks", ShapeError, ValueError, ["concatenate:", "(2, 3)", "(2, 3, 1)", "rank 3", "rank 2"],
     lambda K: K.concatenate([t(K, (2, 3)), t(K, (2, 3, 1))])),
    ("concatenate dims", ShapeError, ValueError, ["concatenate:", "(2, 3)", "(4, 5)", "axis 0"],
     lambda K: K.concatenate([t(K, (2, 3)), t(K, (4, 5))], axis=-1)),
    ("concatenate nothing", InvalidArgumentError, ValueError, ["concatenate:"], lambda K: K.concatenate([])),
    ("stack shapes", ShapeError, ValueError, ["stack:", "(2, 3)", "(2, 4)"],
     lambda K: K.stack([t(K, (2, 3)), t(K, (2, 4))])),
    ("reshape sizes", ShapeError, ValueError, ["reshape:", "(3, 4)", "12 entries", "(5, 2)"],
     lambda K: K.reshape(t(K, (3, 4)), (5, 2))),
    ("reshape free size", ShapeError, ValueError, ["reshape:", "(3, 4)", "(5, -1)"],
     lambda K: K.reshape(t(K, (3, 4)), (5, -1))),
    ("reshape two free sizes", InvalidArgumentError, ValueError, ["reshape:", "(-1, -1)"],
     lambda K: K.reshape(t(K, (3, 4)), (-1, -1))),
    ("squeeze size", ShapeError, ValueError, ["squeeze:", "axis 1", "(3, 4)"], lambda K: K.squeeze(t(K, (3, 4)), 1)),
    ("split parts", ShapeError, ValueError, ["split:", "axis 1 of size 5", "2 equal parts"],
     lambda K: K.split(t(K, (2, 5)), 2)),
    ("categorical_crossentropy shapes", ShapeError, ValueError, ["categorical_crossentropy:", "(4, 3)", "(4, 5)"],
     lambda K: losses.categorical_crossentropy(t(K, (4, 3)), t(K, (4, 5)))),
    ("sparse labels shape", ShapeError, ValueError, ["sparse_categorical_crossentropy:", "(4, 2)", "(4, 3)"],
     lambda K: losses.sparse_categorical_crossentropy(labels(K, np.zeros((4, 2))), probabilities(K, 4))),
    ("binary_accuracy shapes", ShapeError, ValueError, ["binary_accuracy:", "(4, 3)", "(4, 5)"],
     lambda K: metrics.binary_accuracy(t(K, (4, 3)), t(K, (4, 5)))),
    ("sparse accuracy shape", ShapeError, ValueError, ["sparse_categorical_accuracy:", "(4, 2)", "(4, 3)"],
     lambda K: metrics.sparse_categorical_accuracy(labels(K, np.zeros((4, 2))), probabilities(K, 4))),
]
CASES += [(f"{name} shapes", ShapeError, ValueError, [f"{name}:", "y_true of shape (4, 3)", "y_pred of shape (4, 5)"],
           lambda K, name=name: losses.get(name)(t(K, (4, 3)), t(K, (4, 5)))) for name in ELEMENTWISE_LOSSES]
CASES += [
    ("one_hot too large", IndexOutOfRangeError, IndexError, ["one_hot:", "index 7", "3 classes", "0 to 2"],
     lambda K: K.one_hot(labels(K, [0, 7, 1]), 3)),
    ("one_hot negative", IndexOutOfRangeError, IndexError, ["one_hot:", "index -1", "0 to 2"],
     lambda K: K.one_hot(labels(K, [0, -1]), 3)),
    ("one_hot fraction", InvalidArgumentError, ValueError, ["one_hot:", "0.5"],
     lambda K: K.one_hot(labels(K, [0.5], "float32"), 3)),
    ("sparse label too large", IndexOutOfRangeError, IndexError,
     ["sparse_categorical_crossentropy:", "label 7", "3 classes", "0 to 2"],
     lambda K: K.sparse_categorical_crossentropy(labels(K, [0, 7]), probabilities(K, 2))),
    ("sparse label negative", IndexOutOfRangeError, IndexError, ["sparse_categorical_crossentropy:", "label -1"],
     lambda K: losses.sparse_categorical_crossentropy(labels(K, [[-1], [1]]), probabilities(K, 2))),
    ("sparse float label too large", IndexOutOfRangeError, IndexError, ["sparse_categorical_crossentropy:", "label 3"],
     lambda K: losses.sparse_categorical_crossentropy(labels(K, [0.0, 3.0], "float32"), probabilities(K, 2))),
    ("sparse label fraction", InvalidArgumentError, ValueError, ["sparse_categorical_crossentropy:", "2.5"],
     lambda K: losses.sparse_categorical_crossentropy(labels(K, [0.0, 2.5], "float32"), probabilities(K, 2))),
    ("sparse label nan", InvalidArgumentError, ValueError, ["sparse_categorical_crossentropy:", "nan"],
     lambda K: losses.sparse_categorical_crossentropy(labels(K, [0.0, np.nan], "float32"), probabilities(K, 2))),
    ("one_hot complex", DTypeError, TypeError, ["one_hot:", "complex64"],
     lambda K: K.one_hot(labels(K, [1.0], "complex64"), 3)),
    ("sparse top-k label", IndexOutOfRangeError, IndexError, ["one_hot:", "index 5"],
     lambda K: metrics.sparse_top_k_categorical_accuracy(labels(K, [5, 0]), probabilities(K, 2), k=1)),
]
CASES += [(f"{op} axis {axis}", AxisError, IndexError, [f"{op}:", f"axis {axis}", "rank 2", "-2 to 1"],
           lambda K, op=op, axis=axis: getattr(K, op)(t(K, (3, 4)), axis=axis))
          for op in REDUCTIONS + ONE_AXIS for axis in (2, -3)]
CASES += [
    ("expand_dims axis", AxisError, IndexError, ["expand_dims:", "axis 3", "rank 3", "-3 to 2"],
     lambda K: K.expand_dims(t(K, (3, 4)), 3)),
    ("squeeze axis", AxisError, IndexError, ["squeeze:", "axis -3", "rank 2"], lambda K: K.squeeze(t(K, (3, 1)), -3)),
    ("permute_dimensions axis", AxisError, IndexError, ["permute_dimensions:", "axis 2", "rank 2"],
     lambda K: K.permute_dimensions(t(K, (3, 4)), (0, 2))),
    ("permute_dimensions repeat", InvalidArgumentError, ValueError, ["permute_dimensions:", "(1, 1)"],
     lambda K: K.permute_dimensions(t(K, (3, 4)), (1, 1))),
    ("permute_dimensions length", InvalidArgumentError, ValueError, ["permute_dimensions:", "(1, 0, 2)"],
     lambda K: K.permute_dimensions(t(K, (3, 4)), (1, 0, 2))),
    ("repeat_elements axis", AxisError, IndexError, ["repeat_elements:", "axis 2", "rank 2"],
     lambda K: K.repeat_elements(t(K, (3, 4)), 2, 2)),
    ("reverse axis", AxisError, IndexError, ["reverse:", "axis -3", "rank 2"], lambda K: K.reverse(t(K, (3, 4)), -3)),
    ("split axis", AxisError, IndexError, ["split:", "axis 2", "rank 2"], lambda K: K.split(t(K, (3, 4)), 2, axis=2)),
    ("concatenate axis", AxisError, IndexError, ["concatenate:", "axis 2", "rank 2"],
     lambda K: K.concatenate([t(K, (3, 4)), t(K, (3, 4))], axis=2)),
    ("stack axis", AxisError, IndexError, ["stack:", "axis 3", "rank 3", "-3 to 2"],
     lambda K: K.stack([t(K, (3, 4)), t(K, (3, 4))], axis=3)),
    ("batch_dot axes", AxisError, IndexError, ["batch_dot:", "axis 3", "rank 3"],
     lambda K: K.batch_dot(t(K, (2, 3, 4)), t(K, (2, 4, 5)), axes=(3, 1))),
    ("categorical_crossentropy axis", AxisError, IndexError, ["categorical_crossentropy:", "axis 2", "rank 2"],
     lambda K: K.categorical_crossentropy(t(K, (4, 3)), t(K, (4, 3)), axis=2)),
    ("permute_dimensions float", ArgumentTypeError, TypeError, ["permute_dimensions:", "1.0"],
     lambda K: K.permute_dimensions(t(K, (3, 4)), (1.0, 0))),
    ("sum axis twice", InvalidArgumentError, ValueError, ["sum:", "(1, -1)", "twice"],
     lambda K: K.sum(t(K, (3, 4)), axis=(1, -1))),
    ("sum axis type", ArgumentTypeError, TypeError, ["sum:", "1.5", "float"], lambda K: K.sum(t(K, (3, 4)), axis=1.5)),
    ("softmax axis type", ArgumentTypeError, TypeError, ["softmax:", "[1]"], lambda K: K.softmax(t(K, (3, 4)), [1])),
    ("mean of a scalar", AxisError, IndexError, ["mean:", "axis 0", "rank 0"], lambda K: K.mean(t(K, ()), axis=0)),
]
IDS = [case[0] for case in CASES]
assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_mistake_raises_its_error(K, case):
    _, error, builtin, fragments, mistake = case
    with pytest.raises(builtin) as info:
        mistake(K)
    assert type(info.value) is error and isinstance(info.value, MultirnnError), repr(info.value)
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"{missing} not in {message!r}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_message_is_the_same_on_every_backend(case):
    _, error, _, _, mistake = case
    messages = {}
    for name in BACKENDS:
        with backends.use(name) as K:
            with pytest.raises(error) as info:
                mistake(K)
            messages[name] = str(info.value)
    assert len(set(messages.values())) == 1, messages


def test_the_error_classes_are_also_the_builtins():
    assert issubclass(ShapeError, InvalidArgumentError) and issubclass(ShapeError, ValueError)
    assert issubclass(AxisError, InvalidArgumentError) and issubclass(AxisError, IndexError)
    assert issubclass(IndexOutOfRangeError, IndexError) and issubclass(IndexOutOfRangeError, MultirnnError)
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, MultirnnError)
    assert issubclass(DTypeError, ArgumentTypeError)


# ---- what must keep working: each result equals the NumPy backend's

FINE = [
    ("add row", lambda K: K.add(t(K, (3, 4)), t(K, (4,)))),
    ("multiply outer", lambda K: K.multiply(t(K, (3, 1)), t(K, (1, 4)))),
    ("maximum 3D", lambda K: K.maximum(t(K, (2, 1, 4)), t(K, (3, 1)))),
    ("divide scalar", lambda K: K.divide(t(K, (3, 4)), 2.0)),
    ("pow scalar", lambda K: K.pow(t(K, (3, 4)), 2.0)),
    ("greater scalar", lambda K: K.greater(t(K, (3, 4)), 0.5)),
    ("less_equal rows", lambda K: K.less_equal(t(K, (3, 4)), t(K, (1, 4)))),
    ("traced add row", lambda K: traced_add(K, (4,))),
    ("where broadcast", lambda K: K.where(K.greater(t(K, (3, 1)), 0.3), t(K, (3, 4)), 0.0)),
    ("switch leading", lambda K: K.switch(K.greater(t(K, (3,)), 0.3), t(K, (3, 4)), t(K, (3, 4)) * 2.0)),
    ("matmul vector", lambda K: K.matmul(t(K, (3, 4)), t(K, (4,)))),
    ("matmul batch broadcast", lambda K: K.matmul(t(K, (1, 3, 4)), t(K, (2, 4, 5)))),
    ("dot 3D by 2D", lambda K: K.dot(t(K, (2, 3, 4)), t(K, (4, 5)))),
    ("dot 3D by 3D", lambda K: K.dot(t(K, (2, 3, 4)), t(K, (2, 4, 5)))),
    ("batch_dot axes", lambda K: K.batch_dot(t(K, (2, 3, 4)), t(K, (2, 5, 4)), axes=(2, 2))),
    ("concatenate negative axis", lambda K: K.concatenate([t(K, (2, 3)), t(K, (4, 3))], axis=-2)),
    ("stack negative axis", lambda K: K.stack([t(K, (2, 3)), t(K, (2, 3))], axis=-3)),
    ("reshape free size", lambda K: K.reshape(t(K, (3, 4)), (-1, 6))),
    ("reshape empty", lambda K: K.reshape(t(K, (0, 4)), (-1, 2))),
    ("sum negative axes", lambda K: K.sum(t(K, (2, 3, 4)), axis=(-1, 0))),
    ("mean negative axis", lambda K: K.mean(t(K, (2, 3, 4)), axis=-2)),
    ("std numpy int axis", lambda K: K.std(t(K, (3, 4)), axis=np.int64(1))),
    ("max axis None", lambda K: K.max(t(K, (3, 4)))),
    ("argmax axis None", lambda K: K.argmax(t(K, (3, 4)), axis=None)),
    ("softmax axis -2", lambda K: K.softmax(t(K, (3, 4)), axis=-2)),
    ("log_softmax", lambda K: K.log_softmax(t(K, (3, 4)))),
    ("l2_normalize -1", lambda K: K.l2_normalize(t(K, (3, 4)), axis=-1)),
    ("cumsum -1", lambda K: K.cumsum(t(K, (3, 4)), axis=-1)),
    ("expand_dims -3", lambda K: K.expand_dims(t(K, (3, 4)), -3)),
    ("squeeze -1", lambda K: K.squeeze(t(K, (3, 1)), -1)),
    ("permute negative", lambda K: K.permute_dimensions(t(K, (2, 3, 4)), (-1, 0, 1))),
    ("repeat_elements -1", lambda K: K.repeat_elements(t(K, (3, 4)), 2, -1)),
    ("reverse -1", lambda K: K.reverse(t(K, (3, 4)), -1)),
    ("unstack -1", lambda K: K.unstack(t(K, (3, 2)), axis=-1)),
    ("one_hot whole floats", lambda K: K.one_hot(labels(K, [2.0, 0.0], "float32"), 3)),
    ("sparse whole float labels", lambda K: losses.sparse_categorical_crossentropy(
        labels(K, [[2.0], [0.0]], "float32"), probabilities(K, 2))),
    ("sparse labels (batch, time)", lambda K: K.sparse_categorical_crossentropy(
        labels(K, [[0, 2], [1, 1]]), K.constant(np.full((2, 2, 3), 1.0 / 3)))),
    ("mse labels broadcast", lambda K: losses.mean_squared_error(t(K, (4, 1)), t(K, (4, 3)))),
    ("categorical accuracy", lambda K: metrics.categorical_accuracy(t(K, (4, 3)), t(K, (4, 3)))),
    ("sparse accuracy (batch, 1)", lambda K: metrics.sparse_categorical_accuracy(labels(K, [[2], [0]]),
                                                                                   probabilities(K, 2))),
]


def _host(K, out):
    return [K.to_numpy(o) for o in out] if isinstance(out, (list, tuple)) else K.to_numpy(out)


@pytest.mark.parametrize("case", FINE, ids=[c[0] for c in FINE])
def test_legitimate_neighbours_keep_working(K, case):
    _, fn = case
    got = _host(K, fn(K))
    with backends.use("numpy") as reference:
        expected = _host(reference, fn(reference))
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(expected, np.float64), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
def test_traced_tensorflow_graphs_check_what_is_known():
    """Under tf.function unknown sizes fit anything and label values are unknown; known mismatches still raise."""
    import tensorflow as tf
    K = backends.get("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32), tf.TensorSpec((2,), tf.int64),
                                  tf.TensorSpec((2, 3), tf.float32)])
    def fine(x, y, p):
        z = K.concatenate([K.add(x, K.constant(np.ones(3))), x], axis=-1)
        return K.sum(K.reshape(z, (-1,))), K.sparse_categorical_crossentropy(y, K.softmax(p))
    total, loss = fine(tf.ones((2, 3)), tf.constant([0, 2], tf.int64), tf.ones((2, 3)))
    assert float(total) == 18.0 and tuple(loss.shape) == (2,)

    @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32)])
    def mistaken(x):
        return K.add(x, K.constant(np.ones(5)))
    with pytest.raises(ShapeError, match=r"add: shapes \(None, 3\) and \(5,\) cannot be broadcast together"):
        mistaken(tf.ones((2, 3)))
