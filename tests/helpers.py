"""`check_op`: one K computation on every installed backend, compared with NumPy and torch.autograd."""
import numpy as np

from conftest import BACKENDS
from multirnn import backends
from multirnn.backends import frameworks

TOLERANCE = {"float64": 1e-12, "float32": 1e-6}


def _flat(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _is_float(x) -> bool:
    return np.asarray(x).dtype.kind == "f"


def assert_close(actual, expected, dtype, what, tol=None):
    """max |actual - expected| <= tol * max(1, max |expected|), with a message naming `what`."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if expected.dtype.kind not in "fc":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    tol = TOLERANCE[str(dtype)] if tol is None else tol
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    diff = float(np.max(np.abs(actual.astype(np.float64) - expected))) if expected.size else 0.0
    assert diff <= tol * scale, f"{what}: max abs diff {diff:.3g} > {tol:.0e} x {scale:.3g}"


def _run(name, op, inputs, dtype, kwargs, weights=None):
    """Outputs (and, given weights, gradients of sum(out * weights) for the float inputs) on `name`."""
    label = op if isinstance(op, str) else op.__name__
    with backends.use(name) as K:
        def call(tensors):
            return _flat(getattr(K, op)(*tensors, **kwargs) if isinstance(op, str) else op(K, *tensors, **kwargs))

        def tensor(x):
            return K.constant(x, dtype if _is_float(x) else str(x.dtype))
        outputs = [K.to_numpy(o) for o in call([tensor(x) for x in inputs])]
        if weights is None:
            return outputs, None
        variables = [K.variable(x, dtype) for x in inputs if _is_float(x)]

        def loss():
            it = iter(variables)
            outs = call([next(it) if _is_float(x) else tensor(x) for x in inputs])
            return sum(K.sum(o * K.constant(w, K.dtype(o))) for o, w in zip(outs, weights)
                       if K.dtype(o).startswith("float"))
        value, grads = K.value_and_grad(loss, variables)
        terms = [np.asarray(o, np.float64) * w for o, w in zip(outputs, weights) if _is_float(o)]
        diff = abs(float(K.to_numpy(value)) - sum(float(t.sum()) for t in terms))
        tol = max([TOLERANCE.get(str(o.dtype), 1e-3) for o in outputs if _is_float(o)], default=0.0)
        bound = tol * max(1.0, sum(float(np.abs(t).sum()) for t in terms))
        assert diff <= bound, f"{label} on {name}: loss value differs by {diff:.3g}"
        return outputs, [K.to_numpy(g) for g in grads]


def check_op(op, inputs, dtype="float64", grad=True, torch_fn=None, expected=None, tol=None,
             backend_names=None, **kwargs):
    """Run `op` (a K method name, or `fn(K, *tensors, **kwargs)`) on every installed backend.

    Outputs must equal the NumPy backend's (and `expected`, if given); with `grad`, so must the
    gradients of sum(out * fixed random weights) for every float input. `torch_fn(*tensors)`,
    if given, is checked the same way with torch.autograd where torch is installed.
    Returns NumPy's (outputs, grads).
    """
    inputs = [np.asarray(x) for x in inputs]
    label = op if isinstance(op, str) else op.__name__
    outputs, _ = _run("numpy", op, inputs, dtype, kwargs)
    if expected is not None:
        for i, (o, e) in enumerate(zip(outputs, _flat(expected))):
            assert_close(o, np.asarray(e), dtype, f"{label} on numpy: output {i} vs expected", tol)
    rng = np.random.default_rng(1234)
    weights = [rng.standard_normal(o.shape) for o in outputs] if grad else None
    ref_out, ref_grads = _run("numpy", op, inputs, dtype, kwargs, weights) if grad else (outputs, None)
    for name in backend_names or BACKENDS:
        if name == "numpy":
            continue
        out, grads = _run(name, op, inputs, dtype, kwargs, weights)
        for i, (o, r) in enumerate(zip(out, ref_out)):
            assert_close(o, r, dtype, f"{label} on {name} ({dtype}): output {i}", tol)
        for i, (g, r) in enumerate(zip(grads or [], ref_grads or [])):
            assert_close(g, r, dtype, f"{label} on {name} ({dtype}): gradient of float input {i}", tol)
    if torch_fn is not None and frameworks.HAS_TORCH:
        _check_torch(torch_fn, inputs, dtype, ref_out, ref_grads, weights, label, tol)
    return ref_out, ref_grads


def _check_torch(torch_fn, inputs, dtype, ref_out, ref_grads, weights, label, tol):
    import torch
    tdtype = getattr(torch, dtype)
    tensors = [torch.tensor(x, dtype=tdtype, requires_grad=weights is not None) if _is_float(x)
               else torch.tensor(x) for x in inputs]
    outs = _flat(torch_fn(*tensors))
    for i, (o, r) in enumerate(zip(outs, ref_out)):
        assert_close(o.detach().numpy(), r, dtype, f"{label} vs torch ({dtype}): output {i}", tol)
    if weights is None:
        return
    loss = sum((o * torch.tensor(w, dtype=o.dtype)).sum() for o, w in zip(outs, weights))
    loss.backward()
    leaves = [t for t, x in zip(tensors, inputs) if _is_float(x)]
    for i, (t, r) in enumerate(zip(leaves, ref_grads)):
        g = np.zeros(r.shape) if t.grad is None else t.grad.numpy()
        assert_close(g, r, dtype, f"{label} vs torch ({dtype}): gradient of float input {i}", tol)
