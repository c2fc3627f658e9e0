"""The fused whole-sequence kernels against the generic path (`K.rnn` with the layers' own `step`).

Forward values and every gradient (projected, initial states, recurrent kernel, recurrent bias)
must agree to float rounding, for each cell, mask pattern, direction, recurrent dropout layout,
activation pair and float type; the VJPs also meet finite differences, and the tape's
multi-output, all-arguments-at-once primitives are checked on their own.
"""
import itertools

import numpy as np
import pytest

from helpers import assert_close
from multirnn import backends, layers
from multirnn.backends import config, fused_recurrence as fr, tape
from multirnn.backends.fused_recurrence import fused_recurrence

BATCH, TIME, UNITS = 3, 5, 4
CELLS = [("simple_rnn", True), ("gru", True), ("gru", False), ("lstm", True)]
MASKS = ["none", "holes", "empty_sample", "late_start"]
PAIRS = [("tanh", "sigmoid"), ("relu", "hard_sigmoid"), ("elu", "softsign"), ("softplus", "linear"),
         ("linear", "tanh"), ("softsign", "relu"), ("hard_sigmoid", "elu"), ("sigmoid", "softplus")]
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


def make_layer(cell, reset_after, activation, recurrent_activation):
    """A built layer of the real class; a bias drawn at random so that the recurrent bias matters."""
    options = dict(activation=activation, bias_initializer="glorot_uniform")
    if cell != "simple_rnn":
        options["recurrent_activation"] = recurrent_activation
    if cell == "gru":
        options["reset_after"] = reset_after
    kind = {"simple_rnn": layers.SimpleRNN, "gru": layers.GRU, "lstm": layers.LSTM}[cell]
    layer = kind(UNITS, seed=7, **options)
    layer.build((None, TIME, 2))
    return layer


def make_mask(kind, rng):
    if kind == "none":
        return None
    mask = rng.random((BATCH, TIME)) > 0.35
    mask[0, 1] = False  # a hole in every masked pattern
    if kind == "empty_sample":
        mask[1] = False
    if kind == "late_start":  # nothing kept before step 2: outputs start at zero, states at h0
        mask[:, :2] = False
    return mask


class Case:
    """Inputs, weights and a loss that reaches every output step, the last output and the final states."""

    def __init__(self, K, cell, reset_after, mask_kind, go_backwards, recurrent_masks, pair, seed=0):
        rng = np.random.default_rng(seed)
        self.K, self.cell, self.reset_after, self.go_backwards = K, cell, reset_after, go_backwards
        self.activation, self.recurrent_activation = pair
        self.layer = make_layer(cell, reset_after, *pair)
        gates, states = self.layer.gates, self.layer.state_count
        self.projected = K.variable(rng.standard_normal((BATCH, TIME, gates * UNITS)))
        self.states = [K.variable(0.5 * rng.standard_normal((BATCH, UNITS))) for _ in range(states)]
        count = {"none": 0, "shared": 1, "per_gate": gates}[recurrent_masks]
        self.masks = [K.constant(rng.binomial(1, 0.7, (BATCH, UNITS)) / 0.7) for _ in range(count)]
        self.mask = make_mask(mask_kind, rng)
        weights = [rng.standard_normal((BATCH, TIME, UNITS))] + [rng.standard_normal((BATCH, UNITS))] * (1 + states)
        self.weights = [K.constant(w * rng.standard_normal(w.shape)) for w in weights]
        self.variables = [self.projected] + self.states + [self.layer.recurrent_kernel]
        self.variables += [self.layer.bias] if cell == "gru" and reset_after else []

    def generic(self):
        return self.K.rnn(self.layer.step, self.projected, self.states, go_backwards=self.go_backwards,
                          mask=self.mask, constants=self.masks)

    def fused(self, K=None, **overrides):
        K = K or self.K
        bias = self.layer.bias[1] if self.cell == "gru" and self.reset_after else None
        args = dict(cell=self.cell, projected=self.projected, initial_states=self.states,
                    recurrent_kernel=self.layer.recurrent_kernel, recurrent_bias=bias,
                    recurrent_masks=self.masks, mask=self.mask, activation=self.activation,
                    recurrent_activation=self.recurrent_activation, go_backwards=self.go_backwards,
                    reset_after=self.reset_after)
        args.update(overrides)
        return fused_recurrence(K, **args)

    def loss(self, run, parts="all"):
        def fn():
            last, outputs, states = run()
            pieces = [outputs, last] + list(states)
            chosen = {"all": range(len(pieces)), "last": [1], "states": range(2, len(pieces)),
                      "outputs": [0]}[parts]
            return sum(self.K.sum(pieces[j] * self.weights[j]) for j in chosen)
        return fn

    def values(self, run):
        last, outputs, states = run()
        return [self.K.to_numpy(a) for a in [last, outputs] + list(states)]


def assert_same(case, dtype, parts="all", what=""):
    K = case.K
    want, got = case.values(case.generic), case.values(case.fused)
    for name, a, b in zip(["last", "outputs"] + [f"state {j}" for j in range(len(got) - 2)], got, want):
        assert a.dtype == np.dtype(dtype), f"{what} {name}: dtype {a.dtype}"
        assert_close(a, b, dtype, f"{what} {name}", TOLERANCE[dtype])
    (_, g_want), (_, g_got) = (K.value_and_grad(case.loss(run, parts), case.variables)
                               for run in (case.generic, case.fused))
    for var, a, b in zip(case.variables, g_got, g_want):
        assert a.dtype == np.dtype(dtype), f"{what} d {var.name}: dtype {a.dtype}"
        assert_close(a, b, dtype, f"{what} d {var.name}", TOLERANCE[dtype])


CONFIGS = list(itertools.product(CELLS, MASKS, [False, True], ["none", "shared", "per_gate"]))
CONFIG_IDS = [f"{cell}{'' if reset_after else '-reset_before'}-mask_{mask}-{'backwards' if back else 'forwards'}-"
              f"dropout_{dropout}-{'-'.join(PAIRS[i % len(PAIRS)])}"
              for i, ((cell, reset_after), mask, back, dropout) in enumerate(CONFIGS)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("index", range(len(CONFIGS)), ids=CONFIG_IDS)
def test_matches_generic_path(dtype, index):
    (cell, reset_after), mask_kind, go_backwards, recurrent_masks = CONFIGS[index]
    config.set_floatx(dtype)
    with backends.use("numpy") as K:
        pair = PAIRS[index % len(PAIRS)]
        case = Case(K, cell, reset_after, mask_kind, go_backwards, recurrent_masks, pair, seed=index)
        assert_same(case, dtype, what=f"{CONFIGS[index]} {pair}")


@pytest.mark.parametrize("cell,reset_after", CELLS)
@pytest.mark.parametrize("activation", sorted(fr.ACTIVATIONS))
def test_every_activation(float64, cell, reset_after, activation):
    """Each activation as the cell's activation and as its recurrent activation."""
    with backends.use("numpy") as K:
        for pair in [(activation, "sigmoid"), ("tanh", activation)]:
            case = Case(K, cell, reset_after, "holes", True, "shared", pair, seed=3)
            assert_same(case, "float64", what=f"{cell} {pair}")


@pytest.mark.parametrize("name", sorted(fr.ACTIVATIONS))
def test_activation_and_derivative_at_the_kinks(float64, name):
    """Forward and derivative equal the layers' activations under the tape, bounds and kinks included."""
    from multirnn import activations
    x = np.array([-3.0, -2.5, -1e-300, -0.0, 0.0, 1e-300, 0.3, 2.5, 3.0, 40.0, -40.0])
    with backends.use("numpy") as K:
        variable, weights = K.variable(x), np.linspace(0.5, 1.5, x.size)
        _, (want,) = K.value_and_grad(lambda: K.sum(activations.get(name)(variable) * weights), [variable])
        forward, grad = fr.ACTIVATIONS[name]
        y = x.copy()
        forward(np, y, y)
        d = weights.copy()
        grad(np, d, y, x, np.empty_like(x))
        assert_close(y, K.to_numpy(activations.get(name)(K.constant(x))), "float64", f"{name}", 1e-15)
        assert_close(d, want, "float64", f"d {name}", 1e-15)


@pytest.mark.parametrize("parts", ["last", "states", "outputs"])
@pytest.mark.parametrize("cell,reset_after", CELLS)
def test_gradient_from_part_of_the_outputs(float64, cell, reset_after, parts):
    with backends.use("numpy") as K:
        case = Case(K, cell, reset_after, "late_start", False, "none", ("tanh", "sigmoid"), seed=5)
        assert_same(case, "float64", parts=parts, what=parts)


def test_broadcast_output_gradients_and_constant_inputs(float64):
    """K.sum hands back broadcast (read-only) gradients; only U on the tape still works."""
    with backends.use("numpy") as K:
        case = Case(K, "lstm", True, "holes", False, "none", ("tanh", "sigmoid"), seed=2)
        plain = dict(projected=K.to_numpy(case.projected), initial_states=[K.to_numpy(s) for s in case.states])
        U = case.layer.recurrent_kernel

        def loss(run):
            return lambda: K.sum(run()[1]) + K.sum(run()[2][1])
        _, want = K.value_and_grad(loss(lambda: K.rnn(case.layer.step, plain["projected"], plain["initial_states"],
                                                      mask=case.mask)), [U])
        _, got = K.value_and_grad(loss(lambda: case.fused(**plain)), [U])
        assert_close(got[0], want[0], "float64", "dU", 1e-10)


@pytest.mark.parametrize("cell,reset_after", CELLS)
def test_vjp_meets_finite_differences(float64, cell, reset_after):
    """Central differences of a weighted sum of everything the kernel returns, on a tiny case."""
    with backends.use("numpy") as K:
        case = Case(K, cell, reset_after, "holes", True, "shared", ("tanh", "softplus"), seed=11)
        _, grads = K.value_and_grad(case.loss(case.fused), case.variables)
        rng = np.random.default_rng(0)
        for var, grad in zip(case.variables, grads):
            original = K.to_numpy(var)
            for flat in rng.choice(original.size, size=min(6, original.size), replace=False):
                index = np.unravel_index(flat, original.shape)
                sides = []
                for step in (1e-6, -1e-6):
                    moved = original.copy()
                    moved[index] += step
                    K.set_value(var, moved)
                    sides.append(float(case.loss(case.fused)()))
                K.set_value(var, original)
                numeric = (sides[0] - sides[1]) / 2e-6
                assert abs(grad[index] - numeric) <= 1e-6 * max(1.0, abs(numeric)), (var.name, index)


def test_no_per_step_caches_without_a_gradient(float64, monkeypatch):
    made = []
    original = fr._Cell.__init__

    def spy(self, *args):
        original(self, *args)
        made.append(self)
    monkeypatch.setattr(fr._Cell, "__init__", spy)
    with backends.use("numpy") as K:
        case = Case(K, "lstm", True, "holes", False, "none", ("tanh", "sigmoid"))
        case.fused()  # no gradient taken
        constants = dict(projected=K.to_numpy(case.projected), initial_states=[K.to_numpy(s) for s in case.states],
                         recurrent_kernel=K.to_numpy(case.layer.recurrent_kernel))
        unrelated = K.variable(np.ones(2))
        K.value_and_grad(lambda: K.sum(unrelated) + K.sum(case.fused(**constants)[1]), [unrelated])  # none on the tape
        assert [cell.train for cell in made] == [False, False]
        assert all(c.G.shape[0] == 1 and c.S[0].shape[1] == 2 and c.A.shape[0] == 1 for c in made)
        assert not any(hasattr(c, "D") for c in made)
        K.value_and_grad(case.loss(case.fused), case.variables)
        assert made[-1].train and made[-1].G.shape[0] == TIME and made[-1].D.shape == (BATCH, TIME, 4 * UNITS)


def test_float32_stays_float32(monkeypatch):
    made = []
    original = fr._Cell.__init__
    monkeypatch.setattr(fr._Cell, "__init__", lambda self, *args: (original(self, *args), made.append(self))[0])
    config.set_floatx("float32")
    with backends.use("numpy") as K:
        case = Case(K, "gru", True, "holes", False, "per_gate", ("tanh", "hard_sigmoid"))
        grads, values = K.value_and_grad(case.loss(case.fused), case.variables)[1], case.values(case.fused)
    buffers = [a for cell in made for a in vars(cell).values() if isinstance(a, np.ndarray) and a.dtype != bool]
    assert len(buffers) > 10 and {a.dtype for a in values + grads + buffers} == {np.dtype("float32")}


def test_declines_what_it_does_not_compute(float64):
    with backends.use("numpy") as K:
        case = Case(K, "lstm", True, "none", False, "none", ("tanh", "sigmoid"))
        assert case.fused() is not None
        assert case.fused(activation="selu") is None
        assert case.fused(recurrent_activation="softmax") is None
        assert case.fused(cell="peephole_lstm") is None
        assert case.fused(recurrent_bias=K.zeros((4 * UNITS,))) is None  # LSTM has no recurrent bias
        assert case.fused(recurrent_masks=[K.ones((BATCH, UNITS))] * 2) is None
        assert case.fused(projected=K.constant(K.to_numpy(case.projected), "float32")) is None
        assert case.fused(mask=np.ones((BATCH, TIME + 1), bool)) is None
        assert case.fused(projected=K.zeros((BATCH, 0, 4 * UNITS))) is None
        mask_variable = K.variable(np.ones((BATCH, UNITS)))
        declined = []
        K.value_and_grad(lambda: declined.append(case.fused(recurrent_masks=[mask_variable])) or K.sum(mask_variable),
                         [mask_variable])
        assert declined == [None]


def test_all_masked_rows_keep_initial_states(float64):
    with backends.use("numpy") as K:
        case = Case(K, "lstm", True, "empty_sample", True, "none", ("tanh", "sigmoid"))
        last, outputs, states = case.fused()
        assert np.all(K.to_numpy(outputs)[1] == 0) and np.all(K.to_numpy(last)[1] == 0)
        for got, start in zip(states, case.states):
            np.testing.assert_array_equal(K.to_numpy(got)[1], K.to_numpy(start)[1])


# ---- the tape: several outputs, and one VJP rule for all arguments

def _pair_primitive(calls):
    """(2x + y, x·y) with a joint rule that counts its runs."""
    def fn(K, x, y):
        return x * 2 + y, x * y

    def rule(K, g, ans, wanted, x, y):
        calls.append(sorted(map(str, wanted)))
        g_sum, g_prod = (np.zeros_like(x) if a is None else a for a in g)
        return {0: 2 * g_sum + g_prod * y, 1: g_sum + g_prod * x}
    prim = tape.primitive(fn)
    tape.defvjp_all(prim, rule)
    return prim


@pytest.mark.parametrize("use", ["first", "second", "both", "twice"])
def test_multi_output_primitive_with_one_rule(float64, use):
    calls = []
    prim = _pair_primitive(calls)
    K = backends.get("numpy")
    x, y = K.variable([1.0, 2.0]), K.variable([3.0, -1.0])

    def loss():
        first, second = prim(K, x, y)
        return {"first": K.sum(first * first), "second": K.sum(second), "both": K.sum(first * second),
                "twice": K.sum(second) + K.sum(second[0:1] * 3.0)}[use]
    _, (dx, dy) = K.value_and_grad(loss, [x, y])
    xv, yv = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    first, second = 2 * xv + yv, xv * yv
    want = {"first": (4 * first, 2 * first), "second": (yv, xv),
            "both": (2 * second + first * yv, second + first * xv),
            "twice": (yv * [4, 1], xv * [4, 1])}[use]
    np.testing.assert_allclose(dx, want[0])
    np.testing.assert_allclose(dy, want[1])
    assert calls == [["0", "1"]]  # one run for both arguments


def test_joint_rule_runs_again_for_a_second_backward_pass(float64):
    calls = []
    prim = _pair_primitive(calls)
    K = backends.get("numpy")
    x = K.variable([1.0, 2.0])
    with tape.trace([x]) as (leaf,):
        out = K.sum(prim(K, x, np.array([3.0, -1.0]))[1])
        grads = [tape.backward(np, out, np.ones(())) for _ in range(2)]
    assert len(calls) == 2
    np.testing.assert_allclose(grads[0][id(leaf)], [3.0, -1.0])
    np.testing.assert_allclose(grads[1][id(leaf)], [3.0, -1.0])


def test_multi_output_primitive_off_the_tape():
    prim = _pair_primitive([])
    K = backends.get("numpy")
    out = prim(K, K.variable([1.0]), np.array([2.0]))
    assert all(type(o) is np.ndarray for o in out)


# ---- the CuPy backend's code path: a NumPy-backed stand-in for the cupy module, then real CuPy

def _stand_in():
    """test_cupy_backend's NumPy-backed cupy, its ufuncs also writing to `out=` as the kernels do."""
    import test_cupy_backend as fake

    class StandIn(fake.FakeCupy):
        def __getattr__(self, name):
            target = getattr(np, name)
            if not isinstance(target, np.ufunc):
                return super().__getattr__(name)

            def call(*args, out=None, **kwargs):
                result = target(*fake._host_views(args), out=None if out is None else fake._host_view(out),
                                **fake._host_views(kwargs))
                return out if out is not None else fake._device(result)
            return call
    return StandIn()


@pytest.mark.parametrize("cell,reset_after", CELLS)
def test_cupy_stand_in_matches_numpy(float64, cell, reset_after):
    from multirnn.backends.cupy_backend import CupyBackend
    KC = CupyBackend(_stand_in())
    with backends.use("numpy") as K:
        case = Case(K, cell, reset_after, "holes", True, "per_gate", ("tanh", "hard_sigmoid"))
        want = case.values(case.fused), K.value_and_grad(case.loss(case.fused), case.variables)[1]
    device = {id(v): KC.variable(K.to_numpy(v)) for v in case.variables}
    on = lambda v: device[id(v)]  # noqa: E731

    def run():
        bias = on(case.layer.bias)[1] if cell == "gru" and reset_after else None
        return case.fused(KC, projected=on(case.projected), initial_states=[on(s) for s in case.states],
                          recurrent_kernel=on(case.layer.recurrent_kernel), recurrent_bias=bias,
                          recurrent_masks=[KC.constant(K.to_numpy(m)) for m in case.masks])
    weights = [KC.constant(w) for w in case.weights]

    def loss():
        last, outputs, states = run()
        return sum(KC.sum(p * w) for p, w in zip([outputs, last] + states, weights))
    values = [KC.to_numpy(a) for a in (lambda r: [r[0], r[1]] + r[2])(run())]
    grads = KC.value_and_grad(loss, [on(v) for v in case.variables])[1]
    for got, expected in zip(values + [KC.to_numpy(g) for g in grads], list(want[0]) + list(want[1])):
        assert_close(got, expected, "float64", "cupy stand-in", 1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(backends.frameworks.cuda_device_count() == 0, reason="no CUDA device for CuPy")
@pytest.mark.parametrize("cell,reset_after", CELLS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gpu_matches_numpy(cell, reset_after, dtype):
    config.set_floatx(dtype)
    KG = backends.get("cupy")
    with backends.use("numpy") as K:
        case = Case(K, cell, reset_after, "holes", False, "shared", ("tanh", "sigmoid"))
        want = case.values(case.fused)
    bias = KG.constant(K.to_numpy(case.layer.bias)[1]) if cell == "gru" and reset_after else None
    moved = dict(projected=KG.constant(K.to_numpy(case.projected)), recurrent_bias=bias,
                 initial_states=[KG.constant(K.to_numpy(s)) for s in case.states],
                 recurrent_kernel=KG.constant(K.to_numpy(case.layer.recurrent_kernel)),
                 recurrent_masks=[KG.constant(K.to_numpy(m)) for m in case.masks])
    last, outputs, states = case.fused(KG, **moved)
    for got, expected in zip([last, outputs] + states, want):
        assert_close(KG.to_numpy(got), expected, dtype, "gpu", TOLERANCE[dtype])
