"""`compare` and `assert_conform`: build a user's model on several backends and compare everything.

The model (a layer or a model, anything callable on tensors with `.weights`) is built from one
seed on each backend; compared are the initial weights (bit-exact), forward outputs, gradients
of the loss w.r.t. the float inputs and every weight, and the weights after `steps` training
steps with an optimizer of `multirnn.optimizers`.
"""
import contextlib
import time
from itertools import combinations
from typing import Callable, Optional, Sequence, Union

import numpy as np

from multirnn import backends as _backends
from multirnn.backends import config as settings
from multirnn.backends import host_random

from .report import Report, compare_arrays
from .runner import TOLERANCE, floatx, optimizers_module, parse_side


def _loss_fn(loss):
    """A K-level `loss(y_true, y_pred)`; names resolve through `multirnn.losses` when it exists."""
    if callable(loss):
        return loss
    try:
        from multirnn import losses
        return losses.get(loss)
    except ImportError:
        if loss not in ("mse", "mean_squared_error"):
            raise ValueError(f"unknown loss {loss!r} (multirnn.losses is not available)") from None
        from multirnn import backend as K
        return lambda y_true, y_pred: K.mean(K.square(y_pred - y_true), axis=-1)


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _run(build_fn, inputs, targets, name, dtype, steps, optimizer, loss, seed) -> dict:
    from multirnn import backend as K
    out = {}
    backend_name, fast = parse_side(name)
    generic = contextlib.nullcontext() if fast else settings.use_fast_paths(False)
    with floatx(dtype), _backends.use(backend_name), generic:
        host_random.set_seed(seed)
        model = build_fn()
        arrays = [np.asarray(x) for x in inputs]

        def tensor(a):
            return K.constant(a, dtype if a.dtype.kind == "f" else str(a.dtype))
        consts = [tensor(a) for a in arrays]

        def call(xs, training):
            return _as_list(model(xs if len(xs) > 1 else xs[0], training=training))
        outputs = [K.to_numpy(o) for o in call(consts, False)]  # builds the model if needed
        weights = list(model.weights)
        for i, w in enumerate(weights):
            out[f"init:weight[{i}]"] = K.to_numpy(w)
        for k, o in enumerate(outputs):
            out[f"forward:out[{k}]"] = o
        if targets is None:
            rng = np.random.default_rng(seed)
            targets = [rng.standard_normal(o.shape).astype(dtype) for o in outputs]
        target_t = [tensor(np.asarray(t)) for t in targets]
        loss_fn = _loss_fn(loss)
        trainable = list(getattr(model, "trainable_weights", weights))
        float_vars = [K.variable(a, dtype) for a in arrays if a.dtype.kind == "f"]
        opt_module = optimizers_module()
        opt = opt_module.get(optimizer) if (opt_module is not None and steps) else None
        if getattr(model, "stateful", False) or hasattr(model, "layers"):
            model.reset_states()  # the forward pass above must not leak state into training
        for step in range(max(1, steps if opt is not None else 1)):
            first = step == 0
            it = iter(float_vars)
            xs = [next(it) if (first and a.dtype.kind == "f") else c for a, c in zip(arrays, consts)]

            def total():
                outs = call(xs, True)
                return sum(K.mean(loss_fn(t, o)) for t, o in zip(target_t, outs))
            value, grads = K.value_and_grad(total, trainable + (float_vars if first else []))
            out[f"step{step}:loss"] = K.to_numpy(value)
            if first:
                for i, g in enumerate(grads[:len(trainable)]):
                    out[f"grad:weight[{i}]"] = K.to_numpy(g)
                for i, g in enumerate(grads[len(trainable):]):
                    out[f"grad:input[{i}]"] = K.to_numpy(g)
            if opt is not None:
                opt.apply_gradients(zip(grads[:len(trainable)], trainable))
        if opt is not None:
            for i, w in enumerate(weights):
                out[f"trained:weight[{i}]"] = K.to_numpy(w)
    return out


def compare(build_fn: Callable, inputs, backends: Optional[Sequence[str]] = None, dtype: str = "float64",
            steps: int = 3, optimizer: str = "sgd", loss: Union[str, Callable] = "mse", targets=None,
            seed: int = 1234, tolerance: Optional[float] = None, name: str = "model") -> Report:
    """Build `build_fn()` on each backend from one seed and compare initial weights, outputs,
    gradients and the weights after `steps` optimizer steps between every pair of backends."""
    names = list(backends) if backends else _backends.available()
    inputs = _as_list(inputs)
    tol = TOLERANCE[dtype] if tolerance is None else tolerance
    report = Report(name, dtype)
    results = {}
    for b in names:
        start = time.perf_counter()
        try:
            results[b] = _run(build_fn, inputs, targets, b, dtype, steps, optimizer, loss, seed)
        except Exception as e:
            report.errors[b] = f"{type(e).__name__}: {e}"
        report.seconds[b] = time.perf_counter() - start
    for a, b in combinations([n for n in names if n in results], 2):
        ra, rb = results[a], results[b]
        keys = list(ra) + [k for k in rb if k not in ra]
        report.pairs[(a, b)] = [compare_arrays(k, ra.get(k), rb.get(k), 0.0 if k.startswith("init:") else tol)
                                for k in keys]
    return report


def assert_conform(build_fn: Callable, inputs, **kwargs) -> Report:
    """`compare(...)`, raising AssertionError with the differing tensors when any check fails."""
    report = compare(build_fn, inputs, **kwargs)
    if not report.ok:
        raise AssertionError("backends disagree:\n" + "\n".join(report.failures()) + "\n\n" + report.table())
    return report
