"""Optimizers: each update against the formula worked in NumPy, against torch.optim and tf_keras
(legacy) where the algorithm is the same, on every backend; saved state; clipping; aliases."""
import math

import numpy as np
import pytest

from conftest import needs_tf_keras, needs_torch
from helpers import assert_close
from multirnn import backends, optimizers

STEPS = 4
RNG = np.random.default_rng(7)
W0 = RNG.standard_normal((3, 4))
B0 = RNG.standard_normal((4,))
GRADS = [(RNG.standard_normal((3, 4)), RNG.standard_normal((4,))) for _ in range(STEPS)]


# ---- the formulas, worked in NumPy float64 (state per variable in a dict)

def ref_sgd(w, g, s, t, lr, momentum=0.0, nesterov=False):
    if not momentum:
        return w - lr * g
    m = momentum * s.get("m", 0.0) - lr * g
    s["m"] = m
    return w + momentum * m - lr * g if nesterov else w + m


def ref_rmsprop(w, g, s, t, lr, rho=0.9, eps=1e-7):
    s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g * g
    return w - lr * g / (np.sqrt(s["a"]) + eps)


def ref_adagrad(w, g, s, t, lr, init=0.1, eps=1e-7):
    s["a"] = s.get("a", init) + g * g
    return w - lr * g / (np.sqrt(s["a"]) + eps)


def ref_adadelta(w, g, s, t, lr, rho=0.95, eps=1e-7):
    s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g * g
    u = np.sqrt(s.get("d", 0.0) + eps) / np.sqrt(s["a"] + eps) * g
    s["d"] = rho * s.get("d", 0.0) + (1 - rho) * u * u
    return w - lr * u


def ref_adam(w, g, s, t, lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False):
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    v = s["v"]
    if amsgrad:
        v = s["vhat"] = np.maximum(s.get("vhat", 0.0), s["v"])
    return w - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * s["m"] / (np.sqrt(v) + eps)


def ref_adamax(w, g, s, t, lr, b1=0.9, b2=0.999, eps=1e-7):
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["u"] = np.maximum(b2 * s.get("u", 0.0), np.abs(g))
    return w - lr / (1 - b1 ** t) * s["m"] / (s["u"] + eps)


def ref_nadam(w, g, s, t, lr, b1=0.9, b2=0.999, eps=1e-7, sd=0.004):
    mu = b1 * (1 - 0.5 * 0.96 ** (t * sd))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * sd))
    prod = s.get("prod", 1.0) * mu
    s["prod"] = prod
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    m_bar = (1 - mu) * g / (1 - prod) + mu_next * s["m"] / (1 - prod * mu_next)
    return w - lr * m_bar / (np.sqrt(s["v"] / (1 - b2 ** t)) + eps)


# (id, our class, our kwargs, reference, reference kwargs)
CASES = [
    ("sgd", optimizers.SGD, dict(learning_rate=0.1), ref_sgd, dict(lr=0.1)),
    ("sgd_momentum", optimizers.SGD, dict(learning_rate=0.1, momentum=0.9), ref_sgd, dict(lr=0.1, momentum=0.9)),
    ("sgd_nesterov", optimizers.SGD, dict(learning_rate=0.1, momentum=0.9, nesterov=True), ref_sgd,
     dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("rmsprop", optimizers.RMSprop, dict(learning_rate=0.01, rho=0.8), ref_rmsprop, dict(lr=0.01, rho=0.8)),
    ("adagrad", optimizers.Adagrad, dict(learning_rate=0.1), ref_adagrad, dict(lr=0.1)),
    ("adagrad_zero", optimizers.Adagrad, dict(learning_rate=0.1, initial_accumulator_value=0.0), ref_adagrad,
     dict(lr=0.1, init=0.0)),
    ("adadelta", optimizers.Adadelta, dict(learning_rate=1.0), ref_adadelta, dict(lr=1.0)),
    ("adam", optimizers.Adam, dict(learning_rate=0.01), ref_adam, dict(lr=0.01)),
    ("amsgrad", optimizers.Adam, dict(learning_rate=0.01, amsgrad=True), ref_adam, dict(lr=0.01, amsgrad=True)),
    ("adamax", optimizers.Adamax, dict(learning_rate=0.002), ref_adamax, dict(lr=0.002)),
    ("nadam", optimizers.Nadam, dict(learning_rate=0.002), ref_nadam, dict(lr=0.002)),
]
IDS = [c[0] for c in CASES]


def run_ours(K, make, steps=STEPS, grads=GRADS, start=(W0, B0), variables=None):
    opt = make() if callable(make) else make
    variables = variables or [K.variable(start[0]), K.variable(start[1])]
    for gw, gb in grads[:steps]:
        opt.apply_gradients([(K.constant(gw), variables[0]), (K.constant(gb), variables[1])])
    return opt, [K.to_numpy(v) for v in variables]


def run_reference(ref, kwargs, decay=0.0):
    out, states = [W0.copy(), B0.copy()], [{}, {}]
    for t, pair in enumerate(GRADS, start=1):
        kw = dict(kwargs)
        if decay:
            kw["lr"] = kw["lr"] / (1 + decay * (t - 1))
        out = [ref(w, g, s, t, **kw) for w, g, s in zip(out, pair, states)]
    return out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_update_matches_formula(K, float64, case):
    _, cls, kwargs, ref, ref_kwargs = case
    _, ours = run_ours(K, lambda: cls(**kwargs))
    for a, e, name in zip(ours, run_reference(ref, ref_kwargs), ("kernel", "bias")):
        assert_close(a, e, "float64", f"{case[0]} on {K.backend()}: {name} after {STEPS} steps")


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in ("sgd_nesterov", "adam", "rmsprop")], ids=lambda c: c[0])
def test_time_decay(K, float64, case):
    _, cls, kwargs, ref, ref_kwargs = case
    _, ours = run_ours(K, lambda: cls(decay=0.3, **kwargs))
    for a, e in zip(ours, run_reference(ref, ref_kwargs, decay=0.3)):
        assert_close(a, e, "float64", f"{case[0]} with decay on {K.backend()}")


def test_float32_close_to_float64(K):
    _, ours = run_ours(K, lambda: optimizers.Adam(0.01))
    for a, e in zip(ours, run_reference(ref_adam, dict(lr=0.01))):
        assert a.dtype == np.float32
        assert_close(a, e, "float32", f"adam float32 on {K.backend()}", tol=1e-5)


# ---- torch.optim: the same algorithms where settings make them coincide

def _torch_cases():
    import torch
    return [
        # SGD: torch keeps buf = momentum·buf + g and steps lr·buf; Keras keeps m = −lr·buf (constant lr).
        ("sgd_momentum", optimizers.SGD(0.1, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
        ("sgd_nesterov", optimizers.SGD(0.1, momentum=0.9, nesterov=True),
         lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
        # Adagrad: same with the same initial accumulator and epsilon (torch defaults 0 and 1e-10).
        ("adagrad", optimizers.Adagrad(0.1, epsilon=1e-7),
         lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=1e-7)),
        # RMSprop: alpha = rho; epsilon outside the root in both.
        ("rmsprop", optimizers.RMSprop(0.01, rho=0.9, epsilon=1e-7),
         lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-7)),
        ("adadelta", optimizers.Adadelta(1.0, rho=0.95, epsilon=1e-6),
         lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-6)),
        # Adam/Adamax: torch adds epsilon after the bias correction (Adam) or inside the max
        # (Adamax); the algorithms coincide at epsilon = 0 (gradients here are never 0).
        ("adam", optimizers.Adam(0.01, epsilon=0.0), lambda p: torch.optim.Adam(p, lr=0.01, eps=0.0)),
        ("amsgrad", optimizers.Adam(0.01, amsgrad=True, epsilon=0.0),
         lambda p: torch.optim.Adam(p, lr=0.01, eps=0.0, amsgrad=True)),
        ("adamax", optimizers.Adamax(0.01, epsilon=0.0), lambda p: torch.optim.Adamax(p, lr=0.01, eps=0.0)),
        # NAdam: the same schedule (momentum_decay = schedule_decay) and epsilon placement.
        ("nadam", optimizers.Nadam(0.01, epsilon=1e-7), lambda p: torch.optim.NAdam(p, lr=0.01, eps=1e-7)),
    ]


TORCH_IDS = ["sgd_momentum", "sgd_nesterov", "adagrad", "rmsprop", "adadelta", "adam", "amsgrad", "adamax", "nadam"]


@needs_torch
@pytest.mark.parametrize("which", TORCH_IDS)
def test_matches_torch_optim(K, float64, which):
    import torch
    name, ours_opt, make_torch = dict((c[0], c) for c in _torch_cases())[which]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch keeps NAdam's momentum product in the default dtype
    try:
        params = [torch.nn.Parameter(torch.tensor(W0)), torch.nn.Parameter(torch.tensor(B0))]
        opt = make_torch(params)
        for pair in GRADS:
            for p, g in zip(params, pair):
                p.grad = torch.tensor(g)
            opt.step()
    finally:
        torch.set_default_dtype(previous)
    _, ours = run_ours(K, ours_opt)
    for a, p in zip(ours, params):
        assert_close(a, p.detach().numpy(), "float64", f"{name} on {K.backend()} vs torch.optim")


# ---- tf_keras legacy optimizers (hyperparameters exact in float32, as tf_keras stores them)

TF_CASES = [
    ("SGD", dict(learning_rate=0.125, momentum=0.875, nesterov=True, decay=0.0625)),
    ("SGD", dict(learning_rate=0.125, clipvalue=0.25, clipnorm=0.5)),
    ("SGD", dict(learning_rate=0.125, global_clipnorm=0.5)),
    ("RMSprop", dict(learning_rate=0.125, rho=0.875, epsilon=2 ** -20)),
    ("Adagrad", dict(learning_rate=0.125, initial_accumulator_value=0.25, epsilon=2 ** -20)),
    ("Adadelta", dict(learning_rate=1.0, rho=0.875, epsilon=2 ** -20)),
    ("Adam", dict(learning_rate=0.125, beta_1=0.875, beta_2=0.9921875, epsilon=2 ** -20, decay=0.0625)),
    ("Adam", dict(learning_rate=0.125, beta_1=0.875, beta_2=0.9921875, epsilon=2 ** -20, amsgrad=True)),
    ("Adamax", dict(learning_rate=0.125, beta_1=0.875, beta_2=0.9921875, epsilon=2 ** -20)),
    ("Nadam", dict(learning_rate=0.125, beta_1=0.875, beta_2=0.9921875, epsilon=2 ** -20)),
]


@needs_tf_keras
@pytest.mark.parametrize("name,kwargs", TF_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TF_CASES)])
def test_matches_tf_keras_legacy(K, float64, name, kwargs):
    import tensorflow as tf
    import tf_keras
    variables = [tf.Variable(W0), tf.Variable(B0)]
    opt = getattr(tf_keras.optimizers.legacy, name)(**kwargs)
    for pair in GRADS:
        opt.apply_gradients([(tf.constant(g), v) for g, v in zip(pair, variables)])
    _, ours = run_ours(K, getattr(optimizers, name)(**kwargs))
    # tf_keras keeps Nadam's 0.96 and momentum schedule in float32: agreement to ~1e-10 only.
    tol = 1e-9 if name == "Nadam" else 1e-12
    for a, v in zip(ours, variables):
        assert_close(a, v.numpy(), "float64", f"{name}{kwargs} on {K.backend()} vs tf_keras", tol=tol)


# ---- saved state

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_get_set_weights_resumes_identically(K, float64, case):
    _, cls, kwargs, _, _ = case
    variables = [K.variable(W0), K.variable(B0)]
    opt, middle = run_ours(K, lambda: cls(decay=0.1, **kwargs), steps=2, variables=variables)
    state = opt.get_weights()
    assert int(state[0]) == 2
    _, straight = run_ours(K, opt, steps=2, grads=GRADS[2:], variables=variables)
    for pending in (False, True):
        fresh = cls(decay=0.1, **kwargs)
        variables = [K.variable(middle[0]), K.variable(middle[1])]
        if not pending:
            fresh.build(variables)
        fresh.set_weights(state)  # before the first step the slots wait for their variables
        for gw, gb in GRADS[2:]:
            fresh.apply_gradients([(K.constant(gw), variables[0]), (K.constant(gb), variables[1])])
        for a, e in zip(variables, straight):
            np.testing.assert_array_equal(K.to_numpy(a), e, err_msg=f"{case[0]} resumed (pending={pending})")
        assert fresh.iterations == opt.iterations


def test_get_weights_order_and_errors(K):
    opt, _ = run_ours(K, optimizers.Adam(), steps=1)
    state = opt.get_weights()
    assert [w.shape for w in state] == [(), (3, 4), (4,), (3, 4), (4,)]  # iterations, m (w, b), v (w, b)
    with pytest.raises(ValueError, match="Adam.set_weights"):
        opt.set_weights(state[:-1])
    with pytest.raises(ValueError, match="shape"):
        opt.set_weights([state[0], state[2], state[1], state[3], state[4]])
    assert len(optimizers.Nadam().get_weights()) == 2  # iterations and the momentum schedule
    fresh = optimizers.Adam()
    fresh.set_weights(state[:1])  # saved before any step: only the count
    assert fresh.iterations == 1


# ---- clipping, constraints, None gradients

def test_clipvalue_then_clipnorm(K, float64):
    g = np.array([[3.0, -4.0], [0.5, 12.0]])
    for kwargs, expected in (
            (dict(clipvalue=1.0), np.clip(g, -1, 1)),
            (dict(clipnorm=2.0), g * 2.0 / np.linalg.norm(g)),
            (dict(clipnorm=100.0), g),
            (dict(clipvalue=1.0, clipnorm=1.0), np.clip(g, -1, 1) / np.linalg.norm(np.clip(g, -1, 1)))):
        var = K.variable(np.zeros((2, 2)))
        optimizers.SGD(1.0, **kwargs).apply_gradients([(K.constant(g), var)])
        assert_close(-K.to_numpy(var), expected, "float64", f"SGD{kwargs} on {K.backend()}")


def test_global_clipnorm(K, float64):
    g1, g2 = np.array([3.0, 4.0]), np.array([12.0])
    v1, v2 = K.variable(np.zeros(2)), K.variable(np.zeros(1))
    optimizers.SGD(1.0, global_clipnorm=1.0).apply_gradients([(K.constant(g1), v1), (K.constant(g2), v2)])
    assert_close(-K.to_numpy(v1), g1 / 13.0, "float64", "global clipnorm")
    assert_close(-K.to_numpy(v2), g2 / 13.0, "float64", "global clipnorm")
    with pytest.raises(ValueError, match="clipnorm or global_clipnorm"):
        optimizers.SGD(clipnorm=1.0, global_clipnorm=1.0)


def test_constraints_and_none_gradients(K, float64):
    a, b = K.variable(np.array([1.0, -2.0])), K.variable(np.array([5.0]))
    opt = optimizers.SGD(1.0)
    opt.apply_gradients([(K.constant(np.array([-1.0, 1.0])), a), (None, b)],
                        constraints=[(a, lambda w: K.maximum(w, 0.0))])
    np.testing.assert_array_equal(K.to_numpy(a), [2.0, 0.0])
    np.testing.assert_array_equal(K.to_numpy(b), [5.0])


def test_minimize(K, float64):
    w = K.variable(np.array([3.0]))
    opt = optimizers.SGD(0.25)
    value = opt.minimize(lambda: K.sum(K.square(w)), [w])
    assert float(np.asarray(K.to_numpy(value))) == 9.0
    np.testing.assert_allclose(K.to_numpy(w), [1.5])


# ---- arguments, names, configs

def test_lr_aliases():
    assert optimizers.SGD(lr=0.3).learning_rate == 0.3
    assert optimizers.Adam().lr == 0.001
    opt = optimizers.RMSprop(learning_rate=0.1)
    opt.lr = 0.5
    assert opt.learning_rate == 0.5 and opt.get_config()["learning_rate"] == 0.5
    with pytest.raises(TypeError, match="both 'lr'"):
        optimizers.SGD(0.1, lr=0.2)
    with pytest.raises(TypeError, match="both 'lr'"):
        optimizers.Adam(learning_rate=0.1, lr=0.2)
    with pytest.raises(TypeError, match="momentun"):
        optimizers.SGD(momentun=0.9)
    with pytest.raises(ValueError, match="clipnorm"):
        optimizers.SGD(clipnorm=-1)


def test_defaults():
    expected = {"sgd": 0.01, "rmsprop": 0.001, "adagrad": 0.001, "adadelta": 0.001, "adam": 0.001,
                "adamax": 0.001, "nadam": 0.001}  # tf_keras's (tests/test_optimizer_defaults.py)
    for name, lr in expected.items():
        opt = optimizers.get(name)
        assert opt.learning_rate == lr and opt.epsilon == 1e-7 and opt.iterations == 0, name
    assert optimizers.RMSprop().rho == 0.9 and optimizers.Adadelta().rho == 0.95
    assert (optimizers.Adam().beta_1, optimizers.Adam().beta_2, optimizers.Adam().amsgrad) == (0.9, 0.999, False)


def test_get_and_serialization():
    assert isinstance(optimizers.get("Adam"), optimizers.Adam)
    assert isinstance(optimizers.get("RMSPROP"), optimizers.RMSprop)
    opt = optimizers.SGD(0.1, momentum=0.9, nesterov=True, clipvalue=0.5)
    assert optimizers.get(opt) is opt
    again = optimizers.get(optimizers.serialize(opt))
    assert type(again) is optimizers.SGD and again.get_config() == opt.get_config()
    assert optimizers.deserialize({"class_name": "nadam", "config": {"schedule_decay": 0.01}}).schedule_decay == 0.01
    with pytest.raises(ValueError, match="known: adadelta"):
        optimizers.get("adamw")
    with pytest.raises(TypeError):
        optimizers.get(3)


def test_learning_rate_change_takes_effect(K, float64):
    w = K.variable(np.array([1.0]))
    opt = optimizers.SGD(0.1)
    opt.apply_gradients([(K.constant(np.array([1.0])), w)])
    opt.learning_rate = 0.5
    opt.apply_gradients([(K.constant(np.array([1.0])), w)])
    np.testing.assert_allclose(K.to_numpy(w), [0.4])


def test_backends_share_state_layout(float64):
    """State saved on one backend restores on another and the next steps agree."""
    names = backends.available()
    with backends.use(names[0]) as K:
        variables = [K.variable(W0), K.variable(B0)]
        opt, middle = run_ours(K, optimizers.Adam(0.01), steps=2, variables=variables)
        state = opt.get_weights()
        _, expected = run_ours(K, opt, steps=2, grads=GRADS[2:], variables=variables)
    for name in names[1:]:
        with backends.use(name) as K:
            fresh = optimizers.Adam(0.01)
            fresh.set_weights(state)
            _, got = run_ours(K, fresh, steps=2, grads=GRADS[2:], start=middle)
        for a, e in zip(got, expected):
            assert_close(a, e, "float64", f"adam state restored on {name}")
