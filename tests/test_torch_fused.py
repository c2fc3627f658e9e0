"""`fused_rnn` on the torch backend gives the numbers of the generic path (the layer's `step` under
`K.rnn`): outputs, final states and every gradient, on the native kernels and on the hand-written BPTT."""
import itertools

import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from multirnn import backends, layers  # noqa: E402
from multirnn.backends import config  # noqa: E402
from backends.torch_fused import fused_recurrence, fused_rnn  # noqa: E402

TOLERANCE = {"float64": 1e-10, "float32": 1e-5}
LAYERS = {"simple_rnn": layers.SimpleRNN, "gru": layers.GRU, "lstm": layers.LSTM}
CELLS = [("simple_rnn", True), ("lstm", True), ("gru", True), ("gru", False)]   # (cell, reset_after)
MASKS = ["none", "holes", "all_true"]
DROPOUT = ["none", "input", "input_per_gate", "recurrent", "per_gate"]
ACTIVATIONS = [("tanh", "sigmoid"), ("relu", "hard_sigmoid"), ("elu", "softsign"), ("softplus", "linear"),
               ("linear", "sigmoid"), ("softsign", "tanh"), ("hard_sigmoid", "softplus")]


def _cases():
    """Every cell × mask × dropout kind (go_backwards, activations and dtype rotating through them), then
    every configuration of the native kernels × go_backwards × dtype."""
    for n, ((cell, reset_after), mask, dropout) in enumerate(itertools.product(CELLS, MASKS, DROPOUT)):
        activation, recurrent = ACTIVATIONS[0] if n % 3 == 0 else ACTIVATIONS[n % len(ACTIVATIONS)]
        yield pytest.param(cell, reset_after, mask, dropout, n % 2 == 1, activation, recurrent,
                           "float32" if n % 4 == 3 else "float64",
                           id=f"{cell}{'' if reset_after else '-before'}-{mask}-{dropout}-{n}")
    native = [("lstm", "tanh"), ("gru", "tanh"), ("simple_rnn", "tanh"), ("simple_rnn", "relu")]
    for (cell, activation), mask, dropout, go_backwards, dtype in itertools.product(
            native, ["none", "all_true"], ["none", "input"], [False, True], ["float64", "float32"]):
        yield pytest.param(cell, True, mask, dropout, go_backwards, activation, "sigmoid", dtype,
                           id=f"native-{cell}-{activation}-{mask}-{dropout}-{'bwd' if go_backwards else 'fwd'}-{dtype}")


@pytest.fixture
def K():
    with backends.use("torch") as k:
        yield k


def _expects_native(cell, reset_after, mask, dropout, activation, recurrent):
    shared_input_mask = dropout in ("none", "input") or (dropout == "input_per_gate" and cell == "simple_rnn")
    if mask == "holes" or not shared_input_mask:
        return False
    if cell == "simple_rnn":
        return activation in ("tanh", "relu")
    return (activation, recurrent) == ("tanh", "sigmoid") and (cell == "lstm" or reset_after)


def _setup(K, cell, reset_after, mask, dropout, activation, recurrent, dtype, batch=3, steps=6, features=4, units=5):
    """A built layer, its inputs, states, dropout masks and time mask, with random weights and biases."""
    config.set_floatx(dtype)
    options = dict(activation=activation, bias_initializer="random_normal", seed=7)
    if cell != "simple_rnn":
        options["recurrent_activation"] = recurrent
    if cell == "gru":
        options["reset_after"] = reset_after
    layer = LAYERS[cell](units, **options)
    layer.build((None, steps, features))
    rng = np.random.default_rng(3)
    x = K.variable(rng.standard_normal((batch, steps, features)))
    states = [K.variable(0.5 * rng.standard_normal((batch, units))) for _ in range(layer.state_count)]
    count = {"none": 0, "input": 1, "input_per_gate": layer.gates, "recurrent": 1, "per_gate": layer.gates}[dropout]
    input_masks = [K.dropout_mask((batch, features), 0.3, dtype, seed=10 + g) for g in range(count)]
    recurrent_masks = [K.dropout_mask((batch, units), 0.3, dtype, seed=20 + g) for g in range(count)] \
        if dropout in ("recurrent", "per_gate") else []
    keep = np.ones((batch, steps), bool)
    if mask == "holes":
        keep = rng.uniform(size=(batch, steps)) > 0.35
        keep[0, :2], keep[1, -1], keep[2] = False, False, False   # late start, masked end, never kept
    time_mask = None if mask == "none" else K.constant(keep, "bool")
    return layer, x, states, input_masks, recurrent_masks, time_mask


def _both(K, layer, x, states, input_masks, recurrent_masks, time_mask, cell, go_backwards, reset_after):
    """(fused values, fused gradients, generic values, generic gradients, the fused outputs' grad_fn name)."""
    rng = np.random.default_rng(5)
    batch, steps, units = x.shape[0], x.shape[1], layer.units
    weights = [K.constant(rng.standard_normal(shape)) for shape in
               [(batch, units), (batch, steps, units)] + [(batch, units)] * len(states)]
    variables = [x] + layer.weights + states
    seen = []

    def loss(result):
        last, outputs, final = result
        values = [last, outputs] + list(final)
        return sum(K.sum(v * w) for v, w in zip(values, weights)), values

    def fused():
        split = cell == "gru" and reset_after
        bias = layer.bias
        result = fused_rnn(K, cell, x, layer.kernel, bias[0] if split else bias, layer.recurrent_kernel,
                           bias[1] if split else None, states, input_masks, recurrent_masks, time_mask,
                           layer.activation.__name__, layer.recurrent_activation.__name__, go_backwards, reset_after)
        seen.append(type(result[1].grad_fn).__name__)
        return loss(result)

    def generic():
        projected = layer.input_projection(x, input_masks or None)
        return loss(K.rnn(layer.step, projected, states, go_backwards=go_backwards, mask=time_mask,
                          constants=recurrent_masks))

    (_, got), got_grads = K.value_and_grad(fused, variables, has_aux=True)
    (_, ref), ref_grads = K.value_and_grad(generic, variables, has_aux=True)
    return got, got_grads, ref, ref_grads, seen[0]


def _assert_close(actual, expected, tol, what):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected))))
    diff = float(np.max(np.abs(actual - expected)))
    assert diff <= tol * scale, f"{what}: max abs diff {diff:.3g} > {tol:.0e} x {scale:.3g}"


@pytest.mark.parametrize("cell, reset_after, mask, dropout, go_backwards, activation, recurrent, dtype", _cases())
def test_fused_equals_the_generic_path(K, cell, reset_after, mask, dropout, go_backwards, activation, recurrent,
                                       dtype):
    layer, x, states, input_masks, recurrent_masks, time_mask = _setup(
        K, cell, reset_after, mask, dropout, activation, recurrent, dtype)
    got, got_grads, ref, ref_grads, grad_fn = _both(K, layer, x, states, input_masks, recurrent_masks, time_mask,
                                                    cell, go_backwards, reset_after)
    native = _expects_native(cell, reset_after, mask, dropout, activation, recurrent)
    assert ("_Recurrence" not in grad_fn) == native, f"took {grad_fn}, expected the native kernel: {native}"
    tol = TOLERANCE[dtype]
    names = ["last_output", "outputs"] + [f"state {i}" for i in range(len(states))]
    for name, a, e in zip(names, got, ref):
        assert str(a.dtype) == f"torch.{dtype}"
        _assert_close(K.to_numpy(a), K.to_numpy(e), tol, name)
    np.testing.assert_array_equal(K.to_numpy(got[0]), K.to_numpy(got[1][:, -1]))
    names = ["inputs"] + [layer.weight_name(w) for w in layer.weights] + \
        [f"initial state {i}" for i in range(len(states))]
    for name, a, e in zip(names, got_grads, ref_grads):
        assert float(np.max(np.abs(K.to_numpy(e)))) > 0, f"d {name} is zero: the check would be empty"
        _assert_close(K.to_numpy(a), K.to_numpy(e), tol, f"d {name}")


def test_masked_steps_emit_the_previous_output_not_the_state(K):
    """A sample whose first steps are masked emits zeros there although its state is the initial one."""
    layer, x, states, _, _, _ = _setup(K, "gru", True, "none", "none", "tanh", "sigmoid", "float64")
    keep = np.ones((3, 6), bool)
    keep[0, :3] = False
    mask = K.constant(keep, "bool")
    last, outputs, final = fused_rnn(K, "gru", x, layer.kernel, layer.bias[0], layer.recurrent_kernel, layer.bias[1],
                                     states, [], [], mask, "tanh", "sigmoid", False, True)
    np.testing.assert_array_equal(K.to_numpy(outputs[0, :3]), 0.0)
    assert np.all(K.to_numpy(outputs[0, 3]) != 0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_inference_records_no_graph_and_matches(K, cell):
    layer, x, states, _, recurrent_masks, mask = _setup(K, cell, True, "holes", "recurrent", "tanh", "sigmoid",
                                                        "float64")
    split = cell == "gru"
    args = (layer.kernel, layer.bias[0] if split else layer.bias, layer.recurrent_kernel,
            layer.bias[1] if split else None, states, [], recurrent_masks, mask, "tanh", "sigmoid", True, True)
    last, outputs, final = fused_rnn(K, cell, x, *args)
    assert outputs.grad_fn is None and not outputs.requires_grad
    projected = layer.input_projection(x, None)
    _, expected, expected_states = K.rnn(layer.step, projected, states, go_backwards=True, mask=mask,
                                         constants=recurrent_masks)
    _assert_close(K.to_numpy(outputs), K.to_numpy(expected), 1e-10, "outputs")
    for s, e in zip(final, expected_states):
        _assert_close(K.to_numpy(s), K.to_numpy(e), 1e-10, "state")


def _call(K, cell="lstm", dtype="float32", **changes):
    layer, x, states, _, _, _ = _setup(K, cell, True, "none", "none", "tanh", "sigmoid", dtype)
    split = cell == "gru"
    args = dict(inputs=x, kernel=layer.kernel, input_bias=layer.bias[0] if split else layer.bias,
                recurrent_kernel=layer.recurrent_kernel, recurrent_bias=layer.bias[1] if split else None,
                initial_states=states, input_masks=[], recurrent_masks=[], mask=None, activation="tanh",
                recurrent_activation="sigmoid", go_backwards=False, reset_after=True)
    for key, change in changes.items():
        args[key] = change(args[key]) if callable(change) else change
    return fused_rnn(K, cell, **args)


@pytest.mark.parametrize("changes", [
    dict(activation="softmax"),                       # not elementwise
    dict(recurrent_activation="selu"),                # not one of K's activations here
    dict(inputs=lambda x: x.to(torch.float16), kernel=lambda w: w.to(torch.float16),
         recurrent_kernel=lambda w: w.to(torch.float16), input_bias=lambda b: b.to(torch.float16),
         initial_states=lambda s: [t.to(torch.float16) for t in s]),
    dict(kernel=lambda w: w.to(torch.float64)),       # mixed dtypes
    dict(mask=lambda m: torch.ones(3, 5, dtype=torch.bool)),   # a mask of the wrong shape: the generic path says so
    dict(inputs=lambda x: x[:, :0]),                  # no timesteps
], ids=["softmax", "unknown", "float16", "mixed-dtypes", "mask-shape", "no-steps"])
def test_declines_what_it_cannot_match(K, changes):
    assert _call(K, **changes) is None


def test_simple_rnn_ignores_its_recurrent_activation(K):
    assert _call(K, "simple_rnn", recurrent_activation="selu") is not None


@pytest.mark.parametrize("changes, message", [
    (dict(input_masks=lambda m: [None, None]), "input_masks must hold 0, 1 or 4"),
    (dict(initial_states=lambda s: s[:1]), "takes 2 initial state"),
])
def test_bad_arguments_are_errors(K, changes, message):
    with pytest.raises(ValueError, match=message):
        _call(K, **changes)


def test_unknown_cell_is_an_error(K):
    with pytest.raises(ValueError, match="unknown cell 'rnn'"):
        fused_rnn(K, "rnn", *([None] * 13))


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm"])
@pytest.mark.parametrize("kinked", ["hard_sigmoid", "relu", "elu", "softplus", "softsign", "linear"])
def test_gradients_at_the_kinks_of_the_activations(K, cell, kinked):
    """Pre-activations exactly at 2.5, -2.5 and 0, where hard_sigmoid, relu, elu and softplus bend."""
    activation, recurrent = (kinked, "sigmoid") if cell == "simple_rnn" else ("tanh", kinked)
    layer, x, states, _, _, _ = _setup(K, cell, True, "none", "none", activation, recurrent, "float64",
                                       features=1, units=3)
    k = layer.gates
    kernel = np.tile([[2.5, -2.5, 0.0]], (1, k))
    kernel[:, 6:9] = 1.0 if cell == "lstm" else kernel[:, 6:9]   # LSTM: the kinks in the gates i, f, o only
    layer.set_weights([kernel, np.zeros((3, 3 * k)), np.zeros(3 * k)])
    K.set_value(x, np.ones((3, 6, 1)))
    got, got_grads, ref, ref_grads, _ = _both(K, layer, x, states, [], [], None, cell, False, True)
    for a, e in zip(list(got) + list(got_grads), list(ref) + list(ref_grads)):
        _assert_close(K.to_numpy(a), K.to_numpy(e), 1e-12, f"{cell} at the kinks of {kinked}")


@pytest.mark.parametrize("cell, reset_after", CELLS)
def test_fused_recurrence_over_projected_inputs(K, cell, reset_after):
    """The BPTT entry point takes x·W + b; here on a configuration the native kernels would also take."""
    layer, x, states, _, recurrent_masks, mask = _setup(K, cell, reset_after, "holes", "recurrent", "tanh",
                                                        "sigmoid", "float64")
    variables = [x] + layer.weights + states

    def run(fused):
        projected = layer.input_projection(x, None)
        if fused:
            rec_bias = layer.bias[1] if cell == "gru" and reset_after else None
            last, outputs, final = fused_recurrence(K, cell, projected, states, layer.recurrent_kernel, rec_bias,
                                                    recurrent_masks, mask, "tanh", "sigmoid", True, reset_after)
            assert type(outputs.grad_fn).__name__ == "_RecurrenceBackward"
        else:
            last, outputs, final = K.rnn(layer.step, projected, states, go_backwards=True, mask=mask,
                                         constants=recurrent_masks)
        values = [last, outputs] + list(final)
        return sum(K.sum(v * (i + 1.0)) for i, v in enumerate(values)), values

    (_, got), got_grads = K.value_and_grad(lambda: run(True), variables, has_aux=True)
    (_, ref), ref_grads = K.value_and_grad(lambda: run(False), variables, has_aux=True)
    for a, e in zip(list(got) + got_grads, list(ref) + ref_grads):
        _assert_close(K.to_numpy(a), K.to_numpy(e), 1e-10, f"{cell} over projected inputs")


def test_a_recurrent_bias_needs_gru_reset_after(K):
    layer, x, states, _, _, _ = _setup(K, "gru", False, "none", "none", "tanh", "sigmoid", "float64")
    with pytest.raises(ValueError, match="reset_after=True"):
        fused_rnn(K, "gru", x, layer.kernel, layer.bias, layer.recurrent_kernel, layer.bias, states, [], [], None,
                  "tanh", "sigmoid", False, False)
