"""`K.rnn` semantics on every backend: direction, masks, constants, unroll, errors, gradients."""
import numpy as np
import pytest

from helpers import assert_close, check_op

BATCH, TIME, DIM, UNITS = 3, 5, 2, 3
MASK = np.array([[1, 0, 1, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 0, 0]], dtype=bool)


def weights(seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    shapes = [(BATCH, TIME, DIM), (BATCH, UNITS), (BATCH, UNITS), (DIM, UNITS), (UNITS, UNITS)]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def make_step(K, kernel, recurrent_kernel, n_constants=0):
    """Two states (h, c) and an output of another width, so output is never states[0]."""
    def step(x, states):
        assert len(states) == 2 + n_constants
        h, c = states[0], states[1]
        pre = K.dot(x, kernel) + K.dot(h, recurrent_kernel)
        for const in states[2:]:
            pre = pre + const
        h_new = K.tanh(pre)
        c_new = c * 0.5 + h_new * x[:, :1]
        return K.concatenate([h_new * 2.0, c_new + 1.0], -1), [h_new, c_new]
    return step


def reference(x, h, c, kernel, recurrent_kernel, mask=None, go_backwards=False, constants=()):
    """The semantics in plain NumPy: masked steps carry states and the previous output (zeros at first)."""
    states, outputs, previous = [h, c], [], np.zeros((x.shape[0], 2 * UNITS))
    for t in (range(TIME - 1, -1, -1) if go_backwards else range(TIME)):
        h_new = np.tanh(x[:, t] @ kernel + states[0] @ recurrent_kernel + sum(constants))
        c_new = states[1] * 0.5 + h_new * x[:, t, :1]
        out, new = np.concatenate([h_new * 2.0, c_new + 1.0], -1), [h_new, c_new]
        if mask is not None:
            keep = mask[:, t, None]
            out, new = np.where(keep, out, previous), [np.where(keep, a, b) for a, b in zip(new, states)]
        outputs.append(out)
        previous, states = out, new
    return [outputs[-1], np.stack(outputs, 1)] + states


def run_rnn(K, x, h, c, kernel, recurrent_kernel, mask=None, **options):
    last, outputs, states = K.rnn(make_step(K, kernel, recurrent_kernel), x, [h, c], mask=mask, **options)
    return [last, outputs] + list(states)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("unroll", [False, True])
def test_rnn_matches_reference_with_gradients(go_backwards, masked, unroll):
    inputs = weights(1) + ([MASK] if masked else [])

    def rnn(K, x, h, c, kernel, recurrent_kernel, mask=None):
        return run_rnn(K, x, h, c, kernel, recurrent_kernel, mask, go_backwards=go_backwards, unroll=unroll)
    check_op(rnn, inputs, "float64", expected=reference(*inputs[:5], MASK if masked else None, go_backwards))


def test_rnn_float32():
    inputs = weights(2, "float32") + [MASK]
    check_op(run_rnn, inputs, "float32", expected=reference(*[a.astype(float) for a in inputs[:5]], MASK), tol=1e-5)


def test_go_backwards_outputs_in_processing_order(K, float64):
    x = np.arange(BATCH * TIME, dtype=float).reshape(BATCH, TIME, 1)
    step = lambda xt, states: (xt * 1.0, [states[0] + xt])
    last, outputs, (total,) = K.rnn(step, K.constant(x), [K.zeros((BATCH, 1))], go_backwards=True)
    np.testing.assert_array_equal(K.to_numpy(outputs), x[:, ::-1])
    np.testing.assert_array_equal(K.to_numpy(last), x[:, 0])
    np.testing.assert_array_equal(K.to_numpy(total), x.sum(1))


@pytest.mark.parametrize("go_backwards", [False, True])
def test_mask_carries_previous_output_and_states(K, float64, go_backwards):
    x, h, c, kernel, recurrent_kernel = (K.constant(a) for a in weights(3))
    last, outputs, h_end, c_end = run_rnn(K, x, h, c, kernel, recurrent_kernel, K.constant(MASK, "bool"),
                                          go_backwards=go_backwards)
    outputs = K.to_numpy(outputs)
    order = list(range(TIME))[::-1] if go_backwards else list(range(TIME))
    for b in range(2):
        p = min(p for p in range(TIME) if MASK[b, order[p]])
        assert not outputs[b, :p].any(), "outputs before the first unmasked step must be zeros"
        assert outputs[b, p].all()
    for p in range(1, TIME):
        held = ~MASK[:, order[p]]
        np.testing.assert_array_equal(outputs[held, p], outputs[held, p - 1])
    assert not outputs[2].any() and not K.to_numpy(last)[2].any()
    np.testing.assert_array_equal(K.to_numpy(h_end)[2], K.to_numpy(h)[2])
    np.testing.assert_array_equal(K.to_numpy(c_end)[2], K.to_numpy(c)[2])


def test_integer_mask_is_accepted(K, float64):
    inputs = [K.constant(a) for a in weights(4)]
    as_bool = run_rnn(K, *inputs, K.constant(MASK, "bool"))
    as_int = run_rnn(K, *inputs, K.constant(MASK.astype("int32"), "int32"))
    for a, b in zip(as_bool, as_int):
        np.testing.assert_array_equal(K.to_numpy(a), K.to_numpy(b))


def test_constants_are_passed_to_the_step():
    inputs = weights(5)
    bias = np.random.default_rng(6).standard_normal((BATCH, UNITS))

    def rnn(K, x, h, c, kernel, recurrent_kernel, const):
        last, outputs, states = K.rnn(make_step(K, kernel, recurrent_kernel, n_constants=1), x, [h, c],
                                      constants=[const])
        assert len(states) == 2, "constants must not be returned as states"
        return [last, outputs] + list(states)
    check_op(rnn, inputs + [bias], "float64", expected=reference(*inputs, constants=[bias]))


@pytest.mark.parametrize("go_backwards", [False, True])
def test_unroll_equals_loop(K, float64, go_backwards):
    inputs = [K.constant(a) for a in weights(7)]
    mask = K.constant(MASK, "bool")
    loop = run_rnn(K, *inputs, mask, go_backwards=go_backwards, unroll=False)
    unrolled = run_rnn(K, *inputs, mask, go_backwards=go_backwards, unroll=True, input_length=TIME)
    for a, b in zip(loop, unrolled):
        assert_close(K.to_numpy(b), K.to_numpy(a), "float64", "unroll=True vs the loop")


def test_higher_rank_steps(K, float64):
    x = np.random.default_rng(8).standard_normal((2, 4, 3, 2))
    step = lambda xt, states: (K.sum(xt, axis=-1), [states[0] * 0.5 + xt])
    last, outputs, (s,) = K.rnn(step, K.constant(x), [K.zeros((2, 3, 2))], mask=K.constant(MASK[:2, :4], "bool"))
    expected_s, keep_out = np.zeros((2, 3, 2)), np.zeros((2, 3))
    for t in range(4):
        keep = MASK[:2, t]
        expected_s = np.where(keep[:, None, None], expected_s * 0.5 + x[:, t], expected_s)
        keep_out = np.where(keep[:, None], x[:, t].sum(-1), keep_out)
        np.testing.assert_allclose(K.to_numpy(outputs)[:, t], keep_out, rtol=1e-12)
    np.testing.assert_allclose(K.to_numpy(s), expected_s, rtol=1e-12)
    assert K.int_shape(outputs) == (2, 4, 3)


def test_input_length_mismatch_is_an_error(K):
    x, h, c, kernel, recurrent_kernel = (K.constant(a) for a in weights(9))
    with pytest.raises(ValueError, match="input_length"):
        run_rnn(K, x, h, c, kernel, recurrent_kernel, input_length=TIME + 1)


@pytest.mark.parametrize("shape", [(BATCH, TIME + 1), (BATCH + 1, TIME), (TIME,)])
def test_mask_shape_is_checked(K, shape):
    x, h, c, kernel, recurrent_kernel = (K.constant(a) for a in weights(10))
    with pytest.raises(ValueError, match="mask"):
        run_rnn(K, x, h, c, kernel, recurrent_kernel, K.constant(np.ones(shape, bool), "bool"))


def test_two_dimensional_inputs_are_an_error(K):
    with pytest.raises(ValueError):
        K.rnn(lambda x, s: (x, s), K.zeros((BATCH, TIME)), [K.zeros((BATCH, 1))])
