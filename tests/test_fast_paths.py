"""The fast-path seam: layers reach the fused kernels, the switch forces the generic path, custom steps
never fuse, and both paths give the same numbers (the conformance suite checks the whole matrix)."""
import gc
import json

import numpy as np
import pytest

from conftest import BACKENDS
from multirnn import backends, layers
from multirnn.backends import config

RNG = np.random.default_rng(4)
FUSING = [b for b in BACKENDS if b in ("numpy", "torch", "cupy", "tensorflow")]


@pytest.fixture
def calls(monkeypatch):
    """How many layer calls each backend ran as one fused op (`K.fused_rnn` returning a result)."""
    counts = {}
    for name in FUSING:
        backend = backends.get(name)

        def counted(*args, _original=backend.fused_rnn, _name=name, **kwargs):
            out = _original(*args, **kwargs)
            counts[_name] = counts.get(_name, 0) + (out is not None)
            return out
        monkeypatch.setattr(backend, "fused_rnn", counted)
    return counts


def _run(backend, layer_fn, x, weights, fast, mask):
    with backends.use(backend) as K, config.use_fast_paths(fast):
        layer = layer_fn()
        layer.build(x.shape)
        layer.set_weights(weights)
        inputs = K.variable(x)
        value, grads = K.value_and_grad(lambda: K.sum(K.square(layer(inputs, mask=mask))),
                                        [inputs] + layer.trainable_weights)
        return K.to_numpy(value), [K.to_numpy(g) for g in grads]


@pytest.mark.parametrize("backend", FUSING)
@pytest.mark.parametrize("make", [lambda: layers.LSTM(5, return_sequences=True),
                                  lambda: layers.GRU(4, reset_after=False, go_backwards=True),
                                  lambda: layers.SimpleRNN(3, activation="relu")])
def test_layers_reach_the_fused_kernel_and_match_the_generic_path(backend, make, calls, float64):
    x = RNG.standard_normal((3, 6, 2))
    mask = np.ones((3, 6), bool)
    mask[1, 4:] = False
    with backends.use(backend):
        probe = make()
        probe.build(x.shape)
        weights = [RNG.standard_normal(w.shape) * 0.3 for w in probe.get_weights()]
    fast = _run(backend, make, x, weights, True, mask)
    assert calls.get(backend) == 1
    generic = _run(backend, make, x, weights, False, mask)
    assert calls.get(backend) == 1  # the switch kept it generic
    np.testing.assert_allclose(fast[0], generic[0], rtol=1e-10)
    for a, b in zip(fast[1], generic[1]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", FUSING)
def test_custom_steps_and_activations_never_fuse(backend, calls):
    class Doubled(layers.SimpleRNN):
        def step(self, x, states):
            h, new = super().step(x, states)
            return 2 * h, [2 * h]
    x = RNG.standard_normal((2, 3, 2))
    with backends.use(backend) as K:
        for layer in (Doubled(3), layers.LSTM(3, activation=lambda t: K.tanh(t))):
            layer(K.constant(x))
    assert not any(calls.values())


def test_the_environment_variable_and_the_config_file_switch_fast_paths_off(monkeypatch, tmp_path):
    assert config.fast_paths()
    monkeypatch.setenv("MULTIRNN_FAST_PATHS", "0")
    assert not config.fast_paths()
    with config.use_fast_paths(True):
        assert config.fast_paths()  # a block's own choice wins
    monkeypatch.delenv("MULTIRNN_FAST_PATHS")
    monkeypatch.setenv("MULTIRNN_HOME", str(tmp_path))
    (tmp_path / "multirnn.json").write_text(json.dumps({"fast_paths": False}))
    monkeypatch.setitem(config._settings, "fast_paths", True)
    config._load_user_defaults()
    assert not config.fast_paths()
    (tmp_path / "multirnn.json").write_text(json.dumps({"fast_paths": "no"}))
    with pytest.warns(UserWarning, match='"fast_paths" must be true or false'):
        config._load_user_defaults()


def test_a_backend_without_a_kernel_declines_and_says_why():
    with config.collect_declines() as declined:
        backend = backends.get("numpy")
        assert backend.fused_declines("lstm", "softmax", "sigmoid", False) == "no fused kernel for activation 'softmax'"
        with config.use_fast_paths(False):
            x = backend.constant(np.zeros((1, 2, 3)))
            assert backend.fused_rnn(cell="lstm", inputs=x, kernel=None, input_bias=None, recurrent_kernel=None,
                                     recurrent_bias=None, initial_states=[], input_masks=[], recurrent_masks=[],
                                     mask=None, activation="tanh", recurrent_activation="sigmoid",
                                     go_backwards=False) is None
    assert declined == ["numpy: fast paths are switched off"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
def test_a_training_step_leaves_no_reference_cycles(backend, cell):
    """Buffers of a step are freed when it ends, not at the next garbage collection (a cycle holding
    a training cache made memory pile up and steps 2.5x slower)."""
    from multirnn import models, optimizers
    with backends.use(backend):
        model = models.Sequential([getattr(layers, cell)(4, input_shape=(5, 3), recurrent_dropout=0.2)])
        model.compile(optimizers.Adam(), "mse")
        x, y = RNG.standard_normal((6, 5, 3)), RNG.standard_normal((6, 4))
        model.train_on_batch(x, y)
        gc.collect()
        gc.disable()
        try:
            model.train_on_batch(x, y)
            model.predict(x)
            assert gc.collect() == 0
        finally:
            gc.enable()


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
def test_tensorflow_traces_a_configuration_once_per_input_shape():
    """An epoch whose last batch is smaller traces twice; the next epoch, and a new layer of the same
    configuration, trace nothing more."""
    from multirnn import models, optimizers
    from multirnn.backends import tensorflow_compiled
    x, y = RNG.standard_normal((10, 5, 3)), RNG.standard_normal((10, 4))

    def model():
        with backends.use("tensorflow"):
            m = models.Sequential([layers.GRU(4, input_shape=(5, 3), dropout=0.1, recurrent_dropout=0.1)])
            m.compile(optimizers.SGD(0.1), "mse")
            return m
    first = model()
    before = tensorflow_compiled.tracing_count(layers.GRU)
    first.fit(x, y, batch_size=4, epochs=1, verbose=0)
    after_one = tensorflow_compiled.tracing_count(layers.GRU)
    assert after_one - before <= 2
    first.fit(x, y, batch_size=4, epochs=2, verbose=0)
    model().fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert tensorflow_compiled.tracing_count(layers.GRU) == after_one


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow is not installed")
def test_tensorflow_gru_loop_slices_no_bias_per_step():
    """GRU reset_after's two bias rows are cut once, outside the compiled loop: neither the step nor its
    gradient holds a slice (41 -> 33 ops per forward step, as tf_keras's; 98 -> 89 per backward step)."""
    import tensorflow as tf
    with backends.use("tensorflow"):
        layer = layers.GRU(4)
        x = tf.constant(RNG.standard_normal((2, 5, 3)).astype("float32"))
        layer(x)

        @tf.function
        def loss_and_grads(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x))
            return loss, tape.gradient(loss, layer.trainable_weights)
        graph = loss_and_grads.get_concrete_function(x).graph.as_graph_def()
        bodies = [f for f in graph.library.function if "while_body" in f.signature.name]
        assert len(bodies) >= 2  # the loop and its gradient
        assert not [n.op for f in bodies for n in f.node_def if "Slice" in n.op]
