"""Losses and metrics against tf_keras (the live oracle) on every backend, gradients across
backends, 'accuracy' resolution, names and errors."""
import numpy as np
import pytest

from conftest import needs_tf_keras
from helpers import assert_close, check_op
from multirnn import losses, metrics

RNG = np.random.default_rng(11)


def _probs(shape):
    p = RNG.uniform(0.05, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


def _data(kind, shape):
    """(y_true, y_pred) fitting a loss or metric family."""
    if kind == "regression":
        return RNG.standard_normal(shape), RNG.standard_normal(shape)
    if kind == "positive":
        return RNG.uniform(0.0, 3.0, shape), RNG.uniform(0.1, 3.0, shape)
    if kind == "binary":
        return RNG.integers(0, 2, shape).astype(float), RNG.uniform(0.02, 0.98, shape)
    if kind == "signed":
        return RNG.choice([-1.0, 1.0], shape), RNG.standard_normal(shape)
    if kind == "categorical":
        labels = RNG.integers(0, shape[-1], shape[:-1])
        return np.eye(shape[-1])[labels], _probs(shape)
    if kind == "distribution":
        return _probs(shape), _probs(shape)
    if kind == "sparse":
        return RNG.integers(0, shape[-1], shape[:-1]).astype(float), _probs(shape)
    raise ValueError(kind)


# (our name, tf_keras.losses name, data kind)
LOSSES = [
    ("mse", "mean_squared_error", "regression"),
    ("mae", "mean_absolute_error", "regression"),
    ("mape", "mean_absolute_percentage_error", "regression"),
    ("msle", "mean_squared_logarithmic_error", "positive"),
    ("squared_hinge", "squared_hinge", "signed"),
    ("hinge", "hinge", "signed"),
    ("hinge", "hinge", "binary"),  # {0, 1} labels become {-1, 1}
    ("squared_hinge", "squared_hinge", "binary"),
    ("categorical_hinge", "categorical_hinge", "categorical"),
    ("logcosh", "log_cosh", "regression"),
    ("binary_crossentropy", "binary_crossentropy", "binary"),
    ("categorical_crossentropy", "categorical_crossentropy", "categorical"),
    ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy", "sparse"),
    ("kld", "kullback_leibler_divergence", "distribution"),
    ("poisson", "poisson", "positive"),
    ("cosine_proximity", "cosine_similarity", "regression"),
]
METRICS = [
    ("binary_accuracy", "binary_accuracy", "binary"),
    ("categorical_accuracy", "categorical_accuracy", "categorical"),
    ("sparse_categorical_accuracy", "sparse_categorical_accuracy", "sparse"),
    ("top_k_categorical_accuracy", "top_k_categorical_accuracy", "categorical"),
    ("sparse_top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "sparse"),
]
SHAPES = [(6, 7), (3, 4, 7)]


def _oracle(module, name, y_true, y_pred, **kwargs):
    import tensorflow as tf
    import tf_keras
    fn = getattr(getattr(tf_keras, module), name)
    if "top_k" in name:  # tf.math.in_top_k takes float32 only
        y_pred = y_pred.astype(np.float32)
    return np.asarray(fn(tf.constant(y_true), tf.constant(y_pred), **kwargs))


def _f32(x):
    """Values exact in float32, so float32 oracles see the same numbers."""
    return x.astype(np.float32).astype(np.float64)


def _ours(K, fn, y_true, y_pred, dtype, **kwargs):
    return K.to_numpy(fn(K.constant(y_true, dtype), K.constant(y_pred, dtype), **kwargs))


@needs_tf_keras
@pytest.mark.parametrize("shape", SHAPES, ids=["2d", "3d"])
@pytest.mark.parametrize("ours,theirs,kind", LOSSES, ids=[f"{a}-{c}" for a, _, c in LOSSES])
def test_loss_matches_tf_keras(K, float64, ours, theirs, kind, shape):
    y_true, y_pred = _data(kind, shape)
    expected = _oracle("losses", theirs, y_true, y_pred)
    got = _ours(K, losses.get(ours), y_true, y_pred, "float64")
    assert got.shape == shape[:-1]
    tol = 1e-8 if ours == "logcosh" else None  # tf_keras rounds log(2) to float32
    assert_close(got, expected, "float64", f"{ours} on {K.backend()} vs tf_keras", tol)


@needs_tf_keras
@pytest.mark.parametrize("ours,theirs,kind", LOSSES[::3], ids=[a for a, _, _ in LOSSES[::3]])
def test_loss_float32(K, ours, theirs, kind):
    y_true, y_pred = _data(kind, (6, 7))
    expected = _oracle("losses", theirs, y_true.astype("float32"), y_pred.astype("float32"))
    got = _ours(K, losses.get(ours), y_true, y_pred, "float32")
    assert got.dtype == np.float32
    assert_close(got, expected, "float32", f"{ours} float32 on {K.backend()}", tol=2e-6)


@needs_tf_keras
@pytest.mark.parametrize("ours,theirs,kind", METRICS, ids=[m[0] for m in METRICS])
def test_metric_matches_tf_keras(K, float64, ours, theirs, kind):
    y_true, y_pred = _data(kind, (40, 6))
    y_pred = _f32(y_pred)
    kwargs = {"k": 2} if "top_k" in ours else {}
    expected = _oracle("metrics", theirs, y_true, y_pred, **kwargs).reshape(-1)
    got = _ours(K, metrics.get(ours), y_true, y_pred, "float64", **kwargs)
    assert got.shape == (40,)
    # tf_keras averages binary accuracy in its floatx (float32)
    assert_close(got, expected, "float32", f"{ours} on {K.backend()} vs tf_keras", tol=1e-7)


@needs_tf_keras
def test_sparse_labels_with_trailing_axis_and_ties(K, float64):
    y_true, y_pred = _data("sparse", (8, 5))
    y_pred, column = _f32(y_pred), y_true[:, None]
    for name in ("sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy"):
        expected = _oracle("metrics", name, column, y_pred).reshape(-1)
        np.testing.assert_array_equal(_ours(K, metrics.get(name), column, y_pred, "float64"), expected)
    assert_close(_ours(K, losses.sparse_categorical_crossentropy, column, y_pred, "float64"),
                 _oracle("losses", "sparse_categorical_crossentropy", column, y_pred), "float64", "scce (batch, 1)")
    tied = np.array([[0.3, 0.3, 0.3, 0.1], [0.1, 0.2, 0.2, 0.5]])
    onehot = np.eye(4)[[2, 1]]
    expected = _oracle("metrics", "top_k_categorical_accuracy", onehot, tied, k=1)
    np.testing.assert_array_equal(_ours(K, metrics.top_k_categorical_accuracy, onehot, tied, "float64", k=1),
                                  expected.reshape(-1))


@pytest.mark.parametrize("ours,_theirs,kind", LOSSES, ids=[f"{a}-{c}" for a, _, c in LOSSES])
def test_loss_gradients_agree_across_backends(ours, _theirs, kind):
    y_true, y_pred = _data(kind, (4, 5))
    fn = losses.get(ours)

    def op(K, y_pred):
        return fn(K.constant(y_true, "float64"), y_pred)
    op.__name__ = ours
    check_op(op, [y_pred], "float64")


# ---- names and resolution

def test_accuracy_resolution():
    for name in ("accuracy", "acc", "ACC"):
        assert metrics.get(name, loss="binary_crossentropy") is metrics.binary_accuracy
        assert metrics.get(name, loss=losses.binary_crossentropy, output_shape=(None, 3)) is metrics.binary_accuracy
        assert metrics.get(name, loss="mse", output_shape=(None, 1)) is metrics.binary_accuracy
        assert metrics.get(name, loss="sparse_categorical_crossentropy") is metrics.sparse_categorical_accuracy
        assert metrics.get(name, loss="categorical_crossentropy", output_shape=(None, 5)) \
            is metrics.categorical_accuracy
        assert metrics.get(name) is metrics.categorical_accuracy
    assert metrics.get("crossentropy", loss="binary_crossentropy") is losses.binary_crossentropy
    assert metrics.get("ce", loss="sparse_categorical_crossentropy") is losses.sparse_categorical_crossentropy
    assert metrics.get("crossentropy", output_shape=(None, 4)) is losses.categorical_crossentropy
    assert metrics.get("accuracy", loss=lambda y, p: p) is metrics.categorical_accuracy


def test_every_loss_is_a_metric():
    for name in losses.names():
        assert metrics.get(name) is losses.get(name)
    assert metrics.get("top_k_categorical_accuracy") is metrics.top_k_categorical_accuracy


def test_custom_and_dict_metrics_pass_through():
    def false_rates(y_true, y_pred):
        return {"false_neg": y_true, "false_pos": y_pred}
    assert metrics.get(false_rates) is false_rates
    assert metrics.name_of(false_rates) == "false_rates" and metrics.name_of("acc") == "acc"


def test_unknown_names():
    with pytest.raises(ValueError, match="Unknown loss 'msee'.*mean_squared_error"):
        losses.get("msee")
    with pytest.raises(ValueError, match="Unknown metric 'accurcy'.*binary_accuracy"):
        metrics.get("accurcy")
    with pytest.raises(TypeError):
        losses.get(3)
    with pytest.raises(TypeError):
        metrics.get(None)


def test_aliases_and_name_of():
    assert losses.get("mse") is losses.mean_squared_error is losses.MSE
    assert losses.get("KLD") is losses.kullback_leibler_divergence
    assert losses.get("cosine") is losses.cosine_proximity
    assert losses.name_of("mae") == "mean_absolute_error"
    assert losses.name_of(losses.msle) == "mean_squared_logarithmic_error"

    def my_loss(y_true, y_pred):
        return y_pred
    assert losses.get(my_loss) is my_loss and losses.name_of(my_loss) == "my_loss"
    with pytest.raises(ValueError):
        losses.name_of("nope")


def test_cosine_proximity_sign(K, float64):
    y = K.constant(np.array([[1.0, 2.0], [1.0, 0.0]]))
    np.testing.assert_allclose(K.to_numpy(losses.cosine_proximity(y, 3.0 * y)), [-1.0, -1.0])
