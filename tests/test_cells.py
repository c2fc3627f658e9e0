"""RNN(cell) and the cell classes: built-in cells are their layers (same numbers, same fast paths), they
match tf_keras's RNN(cell), a user's own cell trains on every backend, configs and files round-trip."""
import os

import numpy as np
import pytest

from conftest import BACKENDS, needs_h5py, needs_tf_keras
from multirnn import backends, layers
from multirnn.backends import config, host_random
from multirnn.conformance.cells import MinimalGRUCell
from multirnn.layers.registry import deserialize, serialize
from multirnn.models import Sequential, load_model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RNG = np.random.default_rng(5)
X = RNG.standard_normal((3, 5, 4))
HOLES = np.ones((3, 5), bool)
HOLES[0, 1] = HOLES[1, 3:] = False

PAIRS = [
    ("SimpleRNNCell", "SimpleRNN", {"activation": "relu"}),
    ("GRUCell", "GRU", {"reset_after": False, "implementation": 1}),
    ("LSTMCell", "LSTM", {"dropout": 0.25, "recurrent_dropout": 0.25, "implementation": 1,
                          "recurrent_activation": "hard_sigmoid"}),
]


def _value_and_grads(K, layer, x, mask, training=True):
    inputs = K.variable(x)
    mask = K.constant(mask, "bool")

    def loss():
        outs = layer(inputs, mask=mask, training=training)
        return sum(K.sum(o * (k + 1.0)) for k, o in enumerate(outs))
    value, grads = K.value_and_grad(loss, [inputs] + layer.trainable_weights)
    return [K.to_numpy(value)] + [K.to_numpy(g) for g in grads]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell,layer,kw", PAIRS, ids=[f"{c}-{'-'.join(map(str, kw.values()))}" for c, _, kw in PAIRS])
def test_a_builtin_cell_in_rnn_is_its_layer_bit_for_bit(backend, cell, layer, kw, float64):
    """Same seed: the same initial weights, dropout masks, outputs and gradients as the built-in layer."""
    flags = dict(return_sequences=True, return_state=True, go_backwards=True)
    results = []
    with backends.use(backend) as K:
        for make in (lambda: getattr(layers, layer)(3, seed=9, **kw, **flags),
                     lambda: layers.RNN(getattr(layers, cell)(3, seed=9, **kw), **flags)):
            host_random.set_seed(1)
            built = make()
            built.build(X.shape)
            results.append([w for w in built.get_weights()] + _value_and_grads(K, built, X, HOLES))
    assert len(results[0]) == len(results[1])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


FUSING = [b for b in BACKENDS if b in ("numpy", "torch", "cupy", "tensorflow")]


@pytest.mark.parametrize("backend", FUSING)
@pytest.mark.parametrize("make", [lambda: layers.RNN(layers.LSTMCell(4), return_sequences=True),
                                  lambda: layers.RNN(layers.GRUCell(3, reset_after=False), go_backwards=True),
                                  lambda: layers.CuDNNLSTM(3), lambda: layers.CuDNNGRU(3, return_sequences=True)])
def test_builtin_cells_and_cudnn_layers_reach_the_fused_kernel(backend, make, monkeypatch):
    counts = []
    target = backends.get(backend)
    original = target.fused_rnn
    monkeypatch.setattr(target, "fused_rnn", lambda *a, **k: counts.append(original(*a, **k) is not None) or
                        original(*a, **k))
    with backends.use(backend) as K, config.use_fast_paths(True):
        layer = make()
        layer(K.constant(X))
    assert counts and all(counts)


def _custom_subclass_never_fuses():
    class Doubled(layers.LSTMCell):
        def step(self, x, states):
            h, new = layers.LSTMCell.step(self, x, states)
            return 2 * h, [2 * h, new[1]]
    return Doubled


def test_a_cell_with_its_own_step_runs_that_step(float64):
    with backends.use("numpy") as K:
        plain, doubled = layers.RNN(layers.LSTMCell(3, seed=2)), layers.RNN(_custom_subclass_never_fuses()(3, seed=2))
        a, b = K.to_numpy(plain(K.constant(X[:, :1]))), K.to_numpy(doubled(K.constant(X[:, :1])))
    np.testing.assert_allclose(b, 2 * a, rtol=1e-10)


def _tf_rnn(cell, kw, dtype, **flags):
    import tf_keras
    return tf_keras.layers.RNN(getattr(tf_keras.layers, cell)(3, dtype=dtype, **kw), dtype=dtype, **flags)


def _tf_values_and_grads(ref, x, mask):
    import tensorflow as tf
    inputs = tf.Variable(x)
    with tf.GradientTape() as tape:
        outs = ref(inputs, mask=tf.constant(mask))
        loss = sum(tf.reduce_sum(o * (k + 1.0)) for k, o in enumerate(tf.nest.flatten(outs)))
    grads = tape.gradient(loss, [inputs] + ref.trainable_weights)
    return [o.numpy() for o in tf.nest.flatten(outs)], [g.numpy() for g in grads]


TF_CELLS = [("LSTMCell", {}), ("LSTMCell", {"unit_forget_bias": False, "implementation": 1}), ("GRUCell", {}),
            ("GRUCell", {"reset_after": False}), ("SimpleRNNCell", {})]


@needs_tf_keras
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell,kw", TF_CELLS, ids=[f"{c}-{len(kw)}" for c, kw in TF_CELLS])
def test_rnn_of_a_cell_matches_tf_keras_rnn_of_the_cell(backend, cell, kw, float64):
    """Outputs, states and gradients (input and weights) of tf_keras's RNN(cell) with the same weights."""
    flags = dict(return_sequences=True, return_state=True, go_backwards=True)
    ref = _tf_rnn(cell, kw, "float64", **flags)
    ref.build(X.shape)
    weights = [RNG.standard_normal(w.shape) * 0.5 for w in ref.get_weights()]
    ref.set_weights(weights)
    want_out, want_grads = _tf_values_and_grads(ref, X, HOLES)
    with backends.use(backend) as K:
        layer = layers.RNN(getattr(layers, cell)(3, **kw), **flags)
        layer.build(X.shape)
        layer.set_weights(weights)
        got_out = [K.to_numpy(o) for o in layer(K.constant(X), mask=K.constant(HOLES, "bool"))]
        got_grads = _value_and_grads(K, layer, X, HOLES, training=False)[1:]
    for got, want in zip(got_out + got_grads, want_out + want_grads):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    # tf_keras names them 'lstm_cell/kernel:0', ...: the cell's name, then the weight's
    names = [w.name.split(":")[0].split("/")[-1] for w in ref.weights]
    assert [layer.weight_name(w) for w in layer.weights] == [f"{layer.cell.name}/{n}" for n in names]


@needs_tf_keras
def test_rnn_lstm_cell_matches_tf_keras_and_our_lstm_with_the_same_weights(float64):
    import tf_keras
    ref = tf_keras.layers.RNN(tf_keras.layers.LSTMCell(3, dtype="float64"), return_sequences=True, dtype="float64")
    want = np.asarray(ref(X, mask=HOLES))
    with backends.use("numpy") as K:
        for layer in (layers.RNN(layers.LSTMCell(3), return_sequences=True), layers.LSTM(3, return_sequences=True)):
            layer.build(X.shape)
            layer.set_weights(ref.get_weights())
            np.testing.assert_allclose(K.to_numpy(layer(K.constant(X), mask=K.constant(HOLES, "bool"))), want,
                                       rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stacked_cells_states_and_initial_state(backend, float64):
    """StackedRNNCells: the states of each cell in order; a flat or per-cell nested initial_state."""
    with backends.use(backend) as K:
        stack = layers.RNN([layers.GRUCell(3), layers.LSTMCell(2)], return_state=True)
        assert isinstance(stack.cell, layers.StackedRNNCells) and stack.state_sizes == [3, 2, 2]
        out = stack(K.constant(X))
        assert [tuple(K.int_shape(o)) for o in out] == [(3, 2), (3, 3), (3, 2), (3, 2)]
        h0 = [RNG.standard_normal((3, n)) for n in (3, 2, 2)]
        flat = stack(K.constant(X), initial_state=[K.constant(h) for h in h0])
        nested = stack(K.constant(X), initial_state=[K.constant(h0[0]), [K.constant(h0[1]), K.constant(h0[2])]])
        for a, b in zip(flat, nested):
            np.testing.assert_array_equal(K.to_numpy(a), K.to_numpy(b))
        # the stack is the two layers one after the other
        gru, lstm = layers.GRU(3, return_sequences=True), layers.LSTM(2)
        gru.build(X.shape)
        lstm.build((3, 5, 3))
        gru.set_weights(stack.get_weights()[:3])
        lstm.set_weights(stack.get_weights()[3:])
        np.testing.assert_allclose(K.to_numpy(lstm(gru(K.constant(X)))), K.to_numpy(out[0]), rtol=1e-12)
        with pytest.raises(ValueError, match=r"RNN .*expected 3 state tensor\(s\) of sizes \[3, 2, 2\], got 1"):
            stack(K.constant(X), initial_state=[K.constant(h0[0])])


def test_a_cell_without_state_size_is_refused():
    with pytest.raises(TypeError, match=r"RNN .*a cell must have a `call\(inputs, states\)` method and a `state_size`"):
        layers.RNN(layers.Dense(3))
    with pytest.raises(TypeError, match="StackedRNNCells"):
        layers.StackedRNNCells([layers.GRUCell(2), object()])


def _fit(backend, make, epochs=2):
    with backends.use(backend):
        host_random.set_seed(3)
        model = Sequential([make(), layers.Dense(1)])
        model.compile("sgd", "mse")
        y = X.sum(axis=(1, 2))[:, None] * 0.1
        history = model.fit(X, y, batch_size=2, epochs=epochs, verbose=0, shuffle=True)
        return model, history.history["loss"]


def test_a_users_own_cell_trains_identically_on_every_backend(float64):
    """MinimalGRUCell (written with K): same seed, same weights after two epochs on every backend."""
    make = lambda: layers.RNN(MinimalGRUCell(3), input_shape=(5, 4), go_backwards=True)  # noqa: E731
    reference, losses = _fit("numpy", make)
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    for backend in BACKENDS[1:]:
        model, _ = _fit(backend, make)
        for a, b in zip(model.get_weights(), reference.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stateful_rnn_of_a_cell_continues_across_batches(backend, float64):
    with backends.use(backend) as K:
        whole = layers.RNN(MinimalGRUCell(3), return_sequences=True)
        whole.build(X.shape)
        parts = layers.RNN(MinimalGRUCell(3), return_sequences=True, stateful=True, batch_input_shape=(3, 5, 4))
        parts.build(X.shape)
        parts.set_weights(whole.get_weights())
        full = K.to_numpy(whole(K.constant(X)))
        first, second = K.to_numpy(parts(K.constant(X[:, :2]))), K.to_numpy(parts(K.constant(X[:, 2:])))
        np.testing.assert_allclose(np.concatenate([first, second], 1), full, rtol=1e-12)
        parts.reset_states()
        np.testing.assert_allclose(K.to_numpy(parts(K.constant(X[:, :2]))), first, rtol=1e-12)



@pytest.mark.parametrize("backend", BACKENDS)
def test_bidirectional_rnn_of_a_cell_sets_its_states_or_changes_nothing(backend, float64):
    with backends.use(backend) as K:
        bi = layers.Bidirectional(layers.RNN(layers.LSTMCell(3), stateful=True, batch_input_shape=(3, 5, 4)))
        bi.build(X.shape)
        given = [np.full((3, 3), v) for v in (0.1, 0.2, 0.3, 0.4)]  # h, c forward, then h, c backward
        bi.reset_states(given)
        got = [K.to_numpy(s) for s in bi.forward_layer.states + bi.backward_layer.states]
        np.testing.assert_array_equal(np.stack(got), np.stack(given))
        with pytest.raises(ValueError, match=r"RNN '.*': state 1 must have shape \(3, 3\), got \(3, 2\)"):
            bi.reset_states(given[:3] + [np.zeros((3, 2))])  # the backward c is wrong: nothing is set
        kept = [K.to_numpy(s) for s in bi.forward_layer.states + bi.backward_layer.states]
        np.testing.assert_array_equal(np.stack(kept), np.stack(given))
        bi.reset_states()
        assert all(not K.to_numpy(s).any() for s in bi.forward_layer.states + bi.backward_layer.states)

def test_get_config_round_trip_of_cells_and_rnn():
    for cell in (layers.SimpleRNNCell(2, activation="relu"), layers.GRUCell(3, reset_after=False),
                 layers.LSTMCell(4, unit_forget_bias=False, dropout=0.5),
                 layers.StackedRNNCells([layers.GRUCell(2), layers.LSTMCell(3)])):
        rnn = layers.RNN(cell, return_state=True, go_backwards=True, unroll=True)
        again = deserialize(serialize(rnn))
        assert serialize(again) == serialize(rnn)
        assert type(again.cell) is type(cell) and again.go_backwards and again.return_state and again.unroll
    with pytest.raises(ValueError, match="Unknown layer class 'MinimalGRUCell'"):
        deserialize(serialize(layers.RNN(MinimalGRUCell(2))))
    custom = deserialize(serialize(layers.RNN(MinimalGRUCell(2))), custom_objects={"MinimalGRUCell": MinimalGRUCell})
    assert isinstance(custom.cell, MinimalGRUCell) and custom.cell.units == 2


@pytest.mark.parametrize("suffix", [".npz", pytest.param(".h5", marks=needs_h5py)])
def test_models_of_cells_save_and_load(tmp_path, suffix, float64):
    with backends.use("numpy"):
        host_random.set_seed(4)
        model = Sequential([layers.RNN([MinimalGRUCell(3), layers.LSTMCell(2)], input_shape=(5, 4),
                                       return_sequences=True),
                            layers.Bidirectional(layers.RNN(layers.GRUCell(2))), layers.Dense(1)])
        model.compile("adam", "mse")
        model.fit(X, X[:, 0, :1], epochs=1, verbose=0)
        path = str(tmp_path / f"cells{suffix}")
        model.save(path)
        loaded = load_model(path, custom_objects={"MinimalGRUCell": MinimalGRUCell})
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@needs_tf_keras
@pytest.mark.parametrize("cell", ["SimpleRNNCell", "GRUCell", "LSTMCell"])
def test_a_cell_called_alone_is_one_step_as_in_tf_keras(cell, float64):
    """`cell(x_t, states) -> (output, new_states)`, `state_size`, `output_size`, `get_initial_state`."""
    import tf_keras
    ref = getattr(tf_keras.layers, cell)(3, dtype="float64")
    ours = getattr(layers, cell)(3)
    assert ours.state_size == ref.state_size and ours.output_size == ref.output_size
    x_t = X[:, 0]
    states = [RNG.standard_normal((3, 3)) for _ in range(2 if cell == "LSTMCell" else 1)]
    import tensorflow as tf
    want_out, want_states = ref(tf.constant(x_t), [tf.constant(s) for s in states])
    with backends.use("numpy") as K:
        zeros = ours.get_initial_state(batch_size=3, dtype="float64")
        assert [K.int_shape(z) for z in (zeros if isinstance(zeros, list) else [zeros])] == [(3, 3)] * len(states)
        ours.build(x_t.shape)
        ours.set_weights(ref.get_weights())
        out, new_states = ours(K.constant(x_t), [K.constant(s) for s in states])
        np.testing.assert_allclose(K.to_numpy(out), np.asarray(want_out), rtol=1e-10, atol=1e-12)
        for got, want in zip(new_states, tf_nest_flatten(want_states)):
            np.testing.assert_allclose(K.to_numpy(got), np.asarray(want), rtol=1e-10, atol=1e-12)


def tf_nest_flatten(x):
    import tensorflow as tf
    return tf.nest.flatten(x)


def test_rnn_in_a_functional_model_with_symbolic_inputs():
    from multirnn.models import Model
    with backends.use("numpy"):
        inputs = layers.Input(shape=(5, 4))
        seq, h, c = layers.RNN(layers.LSTMCell(3), return_sequences=True, return_state=True)(inputs)
        model = Model(inputs, [layers.Dense(1)(seq), h, c])
        outs = model.predict(X)
    assert [o.shape for o in outs] == [(3, 5, 1), (3, 3), (3, 3)]


@needs_tf_keras
@needs_h5py
def test_h5_weights_of_rnn_cells_load_both_ways_with_tf_keras(tmp_path):
    import tf_keras
    keras_model = tf_keras.Sequential([
        tf_keras.layers.RNN([tf_keras.layers.GRUCell(3), tf_keras.layers.LSTMCell(2)], return_sequences=True,
                            input_shape=(5, 4)),
        tf_keras.layers.RNN(tf_keras.layers.SimpleRNNCell(2)), tf_keras.layers.Dense(1)])
    keras_path = str(tmp_path / "keras.h5")
    keras_model.save_weights(keras_path)
    with backends.use("numpy"):
        ours = Sequential([layers.RNN([layers.GRUCell(3), layers.LSTMCell(2)], return_sequences=True,
                                      input_shape=(5, 4)), layers.RNN(layers.SimpleRNNCell(2)), layers.Dense(1)])
        ours.load_weights(keras_path)
        x = X.astype("float32")
        expected = keras_model.predict(x, verbose=0)
        np.testing.assert_allclose(ours.predict(x), expected, atol=1e-5)
        ours_path = str(tmp_path / "ours.h5")
        ours.save_weights(ours_path)
    clone = tf_keras.models.clone_model(keras_model)
    clone.load_weights(ours_path)
    np.testing.assert_allclose(clone.predict(x, verbose=0), expected, atol=1e-6)


def test_bidirectional_of_a_users_cell_runs_it_both_ways(float64):
    with backends.use("numpy") as K:
        bi = layers.Bidirectional(layers.RNN(MinimalGRUCell(3), return_sequences=True), merge_mode="concat")
        out = K.to_numpy(bi(K.constant(X)))
        assert isinstance(bi.backward_layer.cell, MinimalGRUCell) and bi.backward_layer.go_backwards
        forward = layers.RNN(MinimalGRUCell(3), return_sequences=True)
        backward = layers.RNN(MinimalGRUCell(3), return_sequences=True, go_backwards=True)
        for layer, weights in ((forward, bi.get_weights()[:3]), (backward, bi.get_weights()[3:])):
            layer.build(X.shape)
            layer.set_weights(weights)
        want = np.concatenate([K.to_numpy(forward(K.constant(X))), K.to_numpy(backward(K.constant(X)))[:, ::-1]], -1)
        np.testing.assert_allclose(out, want, rtol=1e-12)
