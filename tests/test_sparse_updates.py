"""Indexed (row-sparse) gradients: the optimizers' sparse updates against tf_keras's legacy optimizers
fed tf.IndexedSlices (repeated and absent rows, clipping), and Embedding models trained by fit."""
import contextlib
import functools

import numpy as np
import pytest

from conftest import BACKENDS, needs_tf_keras
from helpers import assert_close
from multirnn import backends, optimizers
from multirnn.backends import config

BACKENDS_HERE = [b for b in BACKENDS if b != "cupy"]


@contextlib.contextmanager
def _floatx(dtype):
    previous = config.floatx()
    config.set_floatx(dtype)
    try:
        yield
    finally:
        config.set_floatx(previous)

RNG = np.random.default_rng(11)
TABLE = RNG.standard_normal((6, 3))
DENSE = RNG.standard_normal((3,))
# per step: row indices (repeats; rows 2 and 5 never present, row 0 only in the second step), their rows,
# and a dense gradient for a second variable
STEPS = [(np.array([1, 3, 1, 4]), RNG.standard_normal((4, 3)), RNG.standard_normal(3)),
         (np.array([0, 1, 1]), RNG.standard_normal((3, 3)), RNG.standard_normal(3)),
         (np.array([4, 3, 4, 4, 1]), RNG.standard_normal((5, 3)), RNG.standard_normal(3))]

CASES = [
    ("SGD", dict(learning_rate=0.125)),
    ("SGD", dict(learning_rate=0.125, momentum=0.875)),
    ("SGD", dict(learning_rate=0.125, momentum=0.875, nesterov=True, decay=0.0625)),
    ("SGD", dict(learning_rate=0.125, momentum=0.5, clipvalue=0.25, clipnorm=0.5)),
    ("SGD", dict(learning_rate=0.125, global_clipnorm=0.5)),
    ("RMSprop", dict(learning_rate=0.125, rho=0.875, epsilon=2 ** -20)),
    ("Adagrad", dict(learning_rate=0.125, initial_accumulator_value=0.25, epsilon=2 ** -20)),
    ("Adadelta", dict(learning_rate=1.0, rho=0.875, epsilon=2 ** -20)),
    ("Adam", dict(learning_rate=0.125, beta_1=0.875, beta_2=0.9921875, epsilon=2 ** -20, decay=0.0625)),
    ("Adam", dict(learning_rate=0.125, beta_1=0.875, beta_2=0.9921875, epsilon=2 ** -20, amsgrad=True)),
    ("Adamax", dict(learning_rate=0.125, beta_1=0.875, beta_2=0.9921875, epsilon=2 ** -20)),
    ("Nadam", dict(learning_rate=0.125, beta_1=0.875, beta_2=0.9921875, epsilon=2 ** -20)),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CASES)]


@functools.lru_cache(maxsize=None)
def _tf_keras_cached(case: int, dtype: str):
    """tf_keras's arrays for CASES[case], computed once for all backends."""
    name, kwargs = CASES[case]
    return _tf_keras_run(name, kwargs, dtype)


def _tf_keras_run(name, kwargs, dtype):
    import tensorflow as tf
    import tf_keras
    table, dense = tf.Variable(TABLE.astype(dtype)), tf.Variable(DENSE.astype(dtype))
    opt = getattr(tf_keras.optimizers.legacy, name)(**kwargs)
    for index, rows, g in STEPS:
        sparse = tf.IndexedSlices(tf.constant(rows.astype(dtype)), tf.constant(index), tf.constant(TABLE.shape))
        opt.apply_gradients([(sparse, table), (tf.constant(g.astype(dtype)), dense)])
    return [table.numpy(), dense.numpy()] + [opt.get_slot(table, s).numpy() for s in opt.get_slot_names()]


def _our_run(K, name, kwargs, dtype):
    table, dense = K.variable(TABLE, dtype=dtype), K.variable(DENSE, dtype=dtype)
    opt = getattr(optimizers, name)(**kwargs)
    for index, rows, g in STEPS:
        sparse = K.indexed(K.constant(index, "int64"), K.constant(rows, dtype), TABLE.shape)
        opt.apply_gradients([(sparse, table), (K.constant(g, dtype), dense)])
    return [K.to_numpy(table), K.to_numpy(dense)] + [K.to_numpy(opt.get_slot(table, s)) for s in opt.slot_names]


@needs_tf_keras
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_sparse_update_matches_tf_keras(K, name, kwargs, dtype):
    expected = _tf_keras_cached(CASES.index((name, kwargs)), dtype)
    got = _our_run(K, name, kwargs, dtype)
    assert len(got) == len(expected)
    # tf_keras keeps Nadam's 0.96 and momentum schedule in float32: agreement to ~1e-10 only in float64
    tol = 1e-9 if (name, dtype) == ("Nadam", "float64") else None
    for k, (a, b) in enumerate(zip(got, expected)):
        assert_close(a, b, dtype, f"{name}{kwargs} array {k} on {K.backend()} vs tf_keras", tol=tol)
    np.testing.assert_array_equal(got[0][[2, 5]], TABLE[[2, 5]].astype(dtype), err_msg="rows never present moved")


def test_absent_rows_keep_their_momentum(K, float64):
    """The issue's example: a 3-row table, two batches with SGD(0.1, momentum=0.9), row 1 only in the first."""
    table = K.variable(np.zeros((3, 1)))
    opt = optimizers.SGD(0.1, momentum=0.9)
    for index in ([1, 2], [2]):
        rows = -np.ones((len(index), 1))
        opt.apply_gradients([(K.indexed(K.constant(np.array(index), "int64"), K.constant(rows), (3, 1)), table)])
    assert_close(K.to_numpy(table)[:, 0], [0.0, 0.1, 0.29], "float64", f"momentum rows on {K.backend()}")
    assert_close(K.to_numpy(opt.get_slot(table, "momentum"))[:, 0], [0.0, 0.1, 0.19], "float64", "momentum slot")


def test_dense_gradient_of_a_table_is_unchanged(K, float64):
    """A table used elsewhere too (here: a penalty on all of it) gets a dense gradient: every row moves."""
    table = K.variable(np.ones((3, 2)))
    _, grads = K.value_and_grad(lambda: K.sum(K.gather(table, np.array([0, 0]))) + K.sum(table), [table],
                                indexed=True)
    assert not K.is_indexed(grads[0])
    assert_close(K.to_numpy(grads[0]), [[3, 3], [1, 1], [1, 1]], "float64", "dense table gradient")
    _, grads = K.value_and_grad(lambda: K.sum(K.gather(table, np.array([[0, 2], [0, 0]]))), [table], indexed=True)
    assert K.is_indexed(grads[0])
    assert_close(K.to_numpy(K.densify(grads[0])), [[3, 3], [0, 0], [1, 1]], "float64", "indexed table gradient")
    _, dense = K.value_and_grad(lambda: K.sum(K.gather(table, np.array([[0, 2], [0, 0]]))), [table])
    assert not K.is_indexed(dense[0])


# ---- whole Embedding models trained by fit, against tf_keras from the same weights

X_IDS = np.array([[1, 3, 1, 0], [4, 4, 1, 3], [0, 0, 1, 1], [3, 1, 4, 4], [1, 0, 0, 3]])  # rows 2, 5..7 never
Y_REG = np.random.default_rng(3).standard_normal((5, 1))
FIT_CASES = CASES[1:4] + CASES[5:]
MAX_NORM = 0.75


def _tf_keras_fit(name, kwargs, dtype, weights, constraint):
    import tf_keras
    layers = tf_keras.layers
    penalty = tf_keras.regularizers.L2(0.03125) if constraint == "regularizer" else None
    model = tf_keras.Sequential([layers.Embedding(8, 3, input_length=4, dtype=dtype, embeddings_regularizer=penalty),
                                 layers.Flatten(dtype=dtype), layers.Dense(1, dtype=dtype)])
    # tf_keras refuses a constraint on a sparsely updated variable; multirnn applies it to the whole table
    # after each step, as a callback does here
    table = model.layers[0].embeddings
    callbacks = [tf_keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda *_: table.assign(tf_keras.constraints.MaxNorm(MAX_NORM)(table)))] \
        if constraint == "constraint" else []
    model.build((None, 4))
    model.set_weights(weights)
    model.compile(getattr(tf_keras.optimizers.legacy, name)(**kwargs), "mse")
    previous = tf_keras.backend.floatx()
    tf_keras.backend.set_floatx(dtype)  # else fit casts float64 targets to float32
    try:
        history = model.fit(X_IDS, Y_REG.astype(dtype), batch_size=2, epochs=2, shuffle=False, verbose=0,
                            callbacks=callbacks)
    finally:
        tf_keras.backend.set_floatx(previous)
    return model.get_weights(), history.history["loss"]


def _our_fit(K, name, kwargs, weights, constraint):
    from multirnn import constraints, regularizers
    from multirnn.layers import Dense, Embedding, Flatten
    from multirnn.models import Sequential
    model = Sequential([Embedding(8, 3, input_length=4,
                                  embeddings_constraint=constraints.MaxNorm(MAX_NORM) if constraint == "constraint"
                                  else None,
                                  embeddings_regularizer=regularizers.l2(0.03125) if constraint == "regularizer"
                                  else None),
                        Flatten(), Dense(1)])
    model.set_weights(weights)
    model.compile(getattr(optimizers, name)(**kwargs), "mse")
    history = model.fit(X_IDS, Y_REG, batch_size=2, epochs=2, shuffle=False, verbose=0)
    return model.get_weights(), history.history["loss"]


FIT_RUNS = [(n, kw, "float64") for n, kw in FIT_CASES] + [  # float32 for a few (every one above, per update)
    (n, kw, "float32") for n, kw in FIT_CASES if n in ("Adagrad", "Adadelta", "Nadam") or kw.get("nesterov")]


@needs_tf_keras
@pytest.mark.parametrize("name,kwargs,dtype", FIT_RUNS, ids=[f"{n}-{i}-{d}" for i, (n, _, d) in enumerate(FIT_RUNS)])
def test_embedding_model_fit_matches_tf_keras(name, kwargs, dtype):
    rng = np.random.default_rng(5)
    weights = [rng.uniform(-0.5, 0.5, (8, 3)), rng.standard_normal((12, 1)) * 0.5, np.array([0.1])]
    weights = [w.astype(dtype) for w in weights]
    # Adagrad with a constraint; amsgrad Adam with a penalty (the table's gradient is then dense, as in tf)
    constraint = "constraint" if name == "Adagrad" else "regularizer" if kwargs.get("amsgrad") else None
    expected, expected_loss = _tf_keras_fit(name, kwargs, dtype, weights, constraint)
    tol = 1e-9 if (name, dtype) == ("Nadam", "float64") else {"float64": 1e-12, "float32": 2e-6}[dtype]
    for backend in BACKENDS_HERE:
        with backends.use(backend) as K, _floatx(dtype):
            got, loss = _our_fit(K, name, kwargs, weights, constraint)
        for k, (a, b) in enumerate(zip(got, expected)):
            assert_close(a, b, dtype, f"{name}{kwargs} weight {k} after fit on {backend} vs tf_keras", tol=tol)
        # tf_keras averages the epoch's loss in a float32 metric
        assert_close(loss, expected_loss, "float32", f"{name} loss history on {backend}")
    if not constraint:  # rows never in a batch keep their values (a MaxNorm over axis 0 or a penalty moves them)
        np.testing.assert_array_equal(expected[0][[2, 5, 6, 7]], weights[0][[2, 5, 6, 7]])
        np.testing.assert_array_equal(got[0][[2, 5, 6, 7]], weights[0][[2, 5, 6, 7]])
