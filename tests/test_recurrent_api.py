"""Shapes, mask propagation, Keras 1 spellings, config round trips and every error path."""
import numpy as np
import pytest

from conftest import BACKENDS
from multirnn import backends, initializers, layers
from multirnn.layers import Input
from multirnn.optimizers import SGD

CELLS = [layers.SimpleRNN, layers.GRU, layers.LSTM]


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
def test_output_shapes_symbolic_and_concrete(K, cls, return_sequences, return_state):
    layer = cls(3, return_sequences=return_sequences, return_state=return_state)
    symbolic = layer(Input(shape=(5, 4)))
    concrete = layer(K.constant(np.ones((2, 5, 4))))
    symbolic = symbolic if isinstance(symbolic, list) else [symbolic]
    concrete = concrete if isinstance(concrete, list) else [concrete]
    states = (2 if cls is layers.LSTM else 1) if return_state else 0
    assert len(symbolic) == len(concrete) == 1 + states
    assert symbolic[0].shape == ((None, 5, 3) if return_sequences else (None, 3))
    for s, c in zip(symbolic, concrete):
        assert (2,) + s.shape[1:] == tuple(K.int_shape(c))


@pytest.mark.parametrize("merge_mode,width,count", [("concat", 6, 1), ("sum", 3, 1), ("ave", 3, 1), (None, 3, 2)])
def test_bidirectional_shapes(K, merge_mode, width, count):
    layer = layers.Bidirectional(layers.LSTM(3, return_sequences=True, return_state=True), merge_mode=merge_mode)
    out = layer(K.constant(np.ones((2, 5, 4))))
    assert len(out) == count + 4
    assert [tuple(K.int_shape(t)) for t in out[:count]] == [(2, 5, width)] * count
    symbolic = layer.compute_output_shape((None, 5, 4))
    assert symbolic[0] == (None, 5, width) and symbolic[-1] == (None, 3)
    assert len(layer.get_weights()) == 6


def test_mask_propagation():
    emb = layers.Embedding(10, 4, mask_zero=True)
    tokens = np.array([[1, 2, 0], [3, 0, 0]])
    mask = emb.compute_mask(tokens)
    assert np.array_equal(np.asarray(mask), tokens != 0)
    seq = layers.LSTM(3, return_sequences=True)
    assert seq.compute_mask(None, mask) is mask
    assert layers.LSTM(3).compute_mask(None, mask) is None
    both = layers.GRU(3, return_sequences=True, return_state=True).compute_mask(None, mask)
    assert both[0] is mask and both[1:] == [None]
    masking = layers.Masking(0.0)
    x = np.array([[[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]]])
    assert np.array_equal(np.asarray(masking.compute_mask(x)), [[True, False, True]])
    td = layers.TimeDistributed(layers.Masking())
    assert td.compute_mask(None, mask) is mask


def test_time_distributed_applies_per_step(K):
    inner = layers.SimpleRNN(2, kernel_initializer="ones", recurrent_initializer="zeros")
    td = layers.TimeDistributed(inner)
    x = np.random.RandomState(0).randn(2, 3, 4, 5)
    out = K.to_numpy(td(K.constant(x)))
    assert out.shape == (2, 3, 2)
    direct = K.to_numpy(inner(K.constant(x[:, 1])))
    np.testing.assert_allclose(out[:, 1], direct, rtol=1e-6)
    assert td.compute_output_shape((None, 3, 4, 5)) == (None, 3, 2)


def test_keras1_spellings_map_to_keras2():
    layer = layers.LSTM(output_dim=4, init="zeros", inner_init="ones", inner_activation="hard_sigmoid",
                        forget_bias_init="one", W_regularizer="l2", U_regularizer="l1", b_regularizer="l2",
                        dropout_W=0.1, dropout_U=0.2, consume_less="mem", input_dim=3, input_length=7)
    assert layer.units == 4 and layer.unit_forget_bias and layer.implementation == 1
    assert layer.dropout == 0.1 and layer.recurrent_dropout == 0.2
    assert layer.recurrent_activation.__name__ == "hard_sigmoid"
    assert isinstance(layer.kernel_initializer, initializers.Zeros)
    assert layer.batch_input_shape == (None, 7, 3)
    assert layers.GRU(2, consume_less="gpu").implementation == 2
    assert layers.SimpleRNN(2, bias=False).use_bias is False


@pytest.mark.parametrize("kwargs,names", [
    ({"units": 3, "output_dim": 3}, ("output_dim", "units")),
    ({"units": 3, "dropout": 0.1, "dropout_W": 0.1}, ("dropout_W", "dropout")),
    ({"units": 3, "init": "zeros", "kernel_initializer": "ones"}, ("init", "kernel_initializer")),
    ({"units": 3, "consume_less": "mem", "implementation": 2}, ("consume_less", "implementation")),
])
def test_both_spellings_is_a_type_error(kwargs, names):
    with pytest.raises(TypeError, match=f"'{names[0]}'.*'{names[1]}'"):
        layers.LSTM(**kwargs)
    with pytest.raises(TypeError, match="'output_dim'.*'units'"):
        layers.GRU(3, output_dim=3)


@pytest.mark.parametrize("cls", CELLS)
def test_config_round_trip_keeps_outputs(K, cls):
    layer = cls(3, return_sequences=True, go_backwards=True, kernel_regularizer="l2", kernel_constraint="max_norm",
                recurrent_activation="hard_sigmoid")
    x = K.constant(np.random.RandomState(1).randn(2, 4, 5))
    want = K.to_numpy(layer(x))
    clone = layers.deserialize(layers.serialize(layer))
    clone.build((2, 4, 5))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(K.to_numpy(clone(x)), want, rtol=1e-6)
    assert clone.go_backwards and clone.kernel_regularizer.l2 == layer.kernel_regularizer.l2


def test_regularizer_losses_and_constraints(K):
    layer = layers.GRU(2, kernel_regularizer="l2", recurrent_regularizer="l1", bias_constraint="non_neg")
    layer(K.constant(np.ones((1, 2, 3))))
    kernel, recurrent, _ = layer.get_weights()
    losses = [float(K.to_numpy(v)) for v in layer.losses]
    assert losses == pytest.approx([0.01 * np.sum(kernel ** 2), 0.01 * np.sum(np.abs(recurrent))], rel=1e-5)
    assert len(layer.constraints) == 1 and layer.constraints[0][0] is layer.bias


def test_layer_remembers_its_backend():
    with backends.use("numpy"):
        layer = layers.LSTM(2)
    layer.build((1, 3, 2))
    assert all(isinstance(w, type(layer.kernel)) for w in layer.weights)
    assert layer.backend_name == "numpy"


# ---- errors: each names the layer, what was expected and what was given

def test_stateful_needs_fixed_batch_size():
    with pytest.raises(ValueError, match="stateful=True needs a fixed batch size"):
        layers.LSTM(3, stateful=True, batch_input_shape=(None, 5, 4))
    with pytest.raises(ValueError, match="stateful=True needs a fixed batch size"):
        layers.LSTM(3, stateful=True)(Input(shape=(5, 4)))
    with pytest.raises(AttributeError, match="reset_states needs stateful=True"):
        layers.LSTM(3).reset_states()


@pytest.mark.parametrize("make", [lambda: layers.LSTM(3, stateful=True, name="l"),
                                  lambda: layers.RNN(layers.GRUCell(3), stateful=True, name="l")])
def test_setting_states_of_an_unbuilt_stateful_layer_names_it_and_zeroing_is_a_no_op(K, make):
    layer = make()
    layer.reset_states()  # nothing to zero yet
    with pytest.raises(Exception, match=r"'l': reset_states\(states\) needs the layer built \(its batch size "
                                        r"known\); build or call it first") as raised:
        layer.reset_states([np.zeros((2, 3))])
    assert type(raised.value).__name__ == "InvalidArgumentError" and not getattr(layer, "states", None)


def test_stateful_batch_size_must_not_change(K):
    layer = layers.SimpleRNN(2, stateful=True, batch_input_shape=(2, 3, 4))
    layer(K.constant(np.ones((2, 3, 4))))
    with pytest.raises(ValueError, match=r"expected input of shape .*\(2, None, 4\), got \(3, 3, 4\)"):
        layer(K.constant(np.ones((3, 3, 4))))


def test_wrong_input_rank_and_feature_size(K):
    layer = layers.LSTM(3, name="enc")
    with pytest.raises(ValueError, match=r"LSTM 'enc': expected input of rank 3 .* got shape \(2, 4\)"):
        layer(K.constant(np.ones((2, 4))))
    layer(K.constant(np.ones((2, 5, 4))))
    with pytest.raises(ValueError, match=r"LSTM 'enc': expected input .*\(None, None, 4\), got \(2, 5, 6\)"):
        layer(K.constant(np.ones((2, 5, 6))))


def test_mask_of_wrong_shape(K):
    layer = layers.GRU(3, name="g")
    with pytest.raises(ValueError, match=r"GRU 'g': mask must have shape \(batch, timesteps\) = \(2, 5\), got \(2, 4\)"):
        layer(K.constant(np.ones((2, 5, 4))), mask=K.constant(np.ones((2, 4)), "bool"))


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown activation 'tanhh'.*known: .*tanh"):
        layers.LSTM(3, activation="tanhh")
    with pytest.raises(ValueError, match="recurrent_activation: unknown activation"):
        layers.GRU(3, recurrent_activation="nope")
    with pytest.raises(ValueError, match="unknown initializer 'glorot'.*known:"):
        layers.SimpleRNN(3, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="merge_mode must be one of"):
        layers.Bidirectional(layers.LSTM(2), merge_mode="max")


def test_bad_arguments():
    with pytest.raises(ValueError, match="units must be a positive int, got 0"):
        layers.LSTM(0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.5"):
        layers.LSTM(2, dropout=1.5)
    with pytest.raises(ValueError, match="implementation must be 1 or 2, got 3"):
        layers.GRU(2, implementation=3)
    with pytest.raises(TypeError, match="unexpected keyword argument.*'colour'"):
        layers.SimpleRNN(2, colour="red")


def test_set_weights_checks_count_and_shapes(K):
    layer = layers.LSTM(3, name="lstm_w")
    layer.build((1, 5, 4))
    with pytest.raises(ValueError, match=r"LSTM 'lstm_w': weight 'recurrent_kernel' expects shape \(3, 12\), got \(3, 9\)"):
        layer.set_weights([np.zeros((4, 12)), np.zeros((3, 9)), np.zeros(12)])
    with pytest.raises(ValueError, match=r"set_weights expects 3 arrays \(kernel, recurrent_kernel, bias\), got 2"):
        layer.set_weights([np.zeros((4, 12)), np.zeros((3, 12))])
    before = layer.get_weights()
    with pytest.raises(ValueError):
        layer.set_weights([np.ones((4, 12)), np.ones((3, 12)), np.ones(13)])
    assert all(np.array_equal(a, b) for a, b in zip(before, layer.get_weights())), "a failed set_weights changed nothing"


def test_initial_state_count_and_shape(K):
    layer = layers.LSTM(3, name="l")
    x = K.constant(np.ones((2, 5, 4)))
    with pytest.raises(ValueError, match=r"LSTM 'l': expected 2 state tensor\(s\) of sizes \[3, 3\], got 1"):
        layer(x, initial_state=[K.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"state 0 must have shape \(2, 3\), got \(2, 4\)"):
        layer(x, initial_state=[K.zeros((2, 4)), K.zeros((2, 4))])


def test_embedding_index_out_of_range(K):
    emb = layers.Embedding(5, 2, name="emb")
    with pytest.raises(ValueError, match=r"Embedding 'emb': indices must be in \[0, 5\), got values from 0 to 7"):
        emb(K.constant(np.array([[0, 7]]), "int64"))


@pytest.mark.parametrize("make", [
    lambda: layers.Embedding(10, 3, init="uniform", embeddings_initializer="uniform"),
    lambda: layers.LSTM(4, output_dim=4),
    lambda: layers.Dense(3, output_dim=3),
    lambda: layers.Dropout(0.5, p=0.5),
    lambda: layers.GRU(3, consume_less="mem", implementation=2),
])
def test_both_spellings_are_one_type_error_everywhere(make):
    with pytest.raises(TypeError, match=r"got both '\w+' \(Keras 1\) and '\w+' \(Keras 2\); give only one"):
        make()


def test_keras1_spellings_convert_their_values():
    lstm = layers.LSTM(output_dim=3, consume_less="mem", forget_bias_init="zero", init="zeros")
    assert (lstm.units, lstm.implementation, lstm.unit_forget_bias) == (3, 1, False)
    assert layers.Embedding(np.int64(10), np.int64(3)).input_dim == 10
    assert SGD(lr=0.25).learning_rate == 0.25
    with pytest.raises(TypeError, match="got both 'lr' \\(Keras 1\\) and 'learning_rate'"):
        SGD(learning_rate=0.1, lr=0.2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_initializers_given_as_bare_classes(backend):
    with backends.use(backend):
        lstm = layers.LSTM(3, recurrent_initializer=initializers.Ones, kernel_initializer=initializers.Zeros,
                           bias_initializer=initializers.Ones, unit_forget_bias=False)
        lstm.build((2, 4, 5))
        kernel, recurrent, bias = lstm.get_weights()
        again = layers.deserialize(layers.serialize(lstm))
        again.build((2, 4, 5))
    assert not kernel.any() and (recurrent == 1).all() and (bias == 1).all()
    assert all((a == b).all() for a, b in zip(again.get_weights(), lstm.get_weights()))
