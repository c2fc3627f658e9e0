"""Run one configuration on every backend and compare every pair.

Per backend, one model built from one seed serves every check: the initial weights (exactly
equal), an inference forward pass (and, when stateful, two more batches with `reset_states`
between), then three training steps on batches A, B, C (dropout in training mode) whose first
gives the gradients w.r.t. the input, the initial states and every weight, and whose optimizer
updates give the weights compared at the end. Pairs are compared from the stored results.
"""
import contextlib
import importlib
import time
import traceback
from itertools import combinations
from typing import Dict, List, Optional, Sequence

import numpy as np

from multirnn import backends
from multirnn.backends import config as settings
from multirnn.backends.base import Backend

from .matrix import Config
from .model import Net, host_inputs, loss_weights, output_shapes
from .report import ConfigResult, compare_arrays

TOLERANCE = {"float64": 1e-10, "float32": 1e-5}
GENERIC = "/generic"  # a side suffix: that backend with its fast paths off (the generic K.rnn path)


def parse_side(side: str):
    """('numpy', True) for 'numpy'; ('numpy', False) for 'numpy/generic'."""
    return (side[:-len(GENERIC)], False) if side.endswith(GENERIC) else (side, True)


def has_fast_paths(backend_name: str) -> bool:
    """Whether a backend implements the fused-kernel seam (then its generic path is a side of its own)."""
    backend = backends.get(backend_name)
    return type(backend).fused_rnn is not Backend.fused_rnn or type(backend).fused_recurrence is not Backend.fused_recurrence


def with_generic(backend_names: Sequence[str], compiled: bool = True) -> List[str]:
    """The sides for `backend_names`: each backend, followed by its generic path when it has fast paths.

    `compiled=False` keeps only the generic side of a backend whose fast path compiles one trace per
    configuration (TensorFlow): over thousands of distinct tiny configurations the traces dominate."""
    sides = []
    for name in backend_names:
        fast = not name.endswith(GENERIC) and has_fast_paths(name)
        if compiled or not (fast and getattr(backends.get(name), "fast_paths_trace", False)):
            sides.append(name)
        if fast and name + GENERIC not in backend_names:
            sides.append(name + GENERIC)
    return sides


@contextlib.contextmanager
def floatx(dtype: str):
    """Set the global floatx for a block, restoring it afterwards."""
    previous = settings.floatx()
    settings.set_floatx(dtype)
    try:
        yield
    finally:
        settings.set_floatx(previous)


def optimizers_module():
    """`multirnn.optimizers` when it can be imported, else None (the optimizer check is skipped)."""
    try:
        return importlib.import_module("multirnn.optimizers")
    except ImportError:
        return None


def runner_optimizer(module, name: str):
    """Optimizer `name` at Keras 2.2's default learning rate (Adadelta 1.0, Adagrad 0.01, ...), given
    explicitly: larger steps than tf_keras's 0.001 make the trajectories a sharper check."""
    cls = type(module.get({"class_name": name, "config": {"learning_rate": 0.0}}))
    return cls(learning_rate=cls.default_lrs[1])


def _record(out: dict, prefix: str, K, tensors) -> None:
    for k, t in enumerate(tensors):
        out[f"{prefix}[{k}]"] = K.to_numpy(t)


def run_backend(config: Config, side: str, dtype: str, steps: int = 3) -> Dict[str, np.ndarray]:
    """Every tensor the checks compare, computed on one backend (`name/generic`: its generic path), keyed by
    a readable name. A backend whose fast path compiles (TensorFlow) runs its training steps and optimizer
    updates compiled too (`K.compiled_step`), as a model's `fit` does."""
    out: Dict[str, np.ndarray] = {}
    data = host_inputs(config, dtype)
    batches, h0 = data["batches"], data["initial_state"]
    backend_name, fast = parse_side(side)
    generic = contextlib.nullcontext() if fast else settings.use_fast_paths(False)
    with floatx(dtype), backends.use(backend_name) as K, generic:
        compiled = fast and getattr(K, "fast_paths_trace", False)  # its training steps compiled as a model's are
        net = Net(config, backend_name)
        names = net.weight_names()
        for name, w in zip(names, net.weights):
            out[f"init:{name}"] = K.to_numpy(w)

        def tensor(x):
            return K.constant(x, "int64" if x.dtype.kind == "i" else dtype)
        h0_const = [tensor(s) for s in h0] if h0 else None
        _record(out, "forward:out", K, net(tensor(batches[0]), training=False, initial_state=h0_const))
        if config.stateful:
            _record(out, "forward:state", K, net.states())
            _record(out, "stateful_B:out", K, net(tensor(batches[1]), training=False))
            net.reset_states()
            _record(out, "stateful_C:out", K, net(tensor(batches[2]), training=False))
            net.reset_states()

        projections = [K.constant(r) for r in loss_weights(output_shapes(config), dtype)]
        weights = list(net.weights)
        x_var = K.variable(batches[0], dtype) if batches[0].dtype.kind == "f" else None
        h0_vars = [K.variable(s, dtype) for s in h0] if h0 else []
        opt_module = optimizers_module()
        optimizer = runner_optimizer(opt_module, config.optimizer) if opt_module is not None else None
        for step in range(steps if optimizer is not None else 1):
            if config.stateful and step == 2:
                net.reset_states()
            first = step == 0
            x = x_var if first and x_var is not None else tensor(batches[step % len(batches)])
            init = None  # a stateful layer continues from its states after the first step
            if h0 and (first or not config.stateful):
                init = h0_vars if first else [tensor(s) for s in h0]
            variables = weights + ([x_var] if first and x_var is not None else []) + (h0_vars if first else [])

            def train_step():
                captured = []

                def loss():
                    captured[:] = net(x, training=True, initial_state=init)
                    return sum(K.sum(o * r) for o, r in zip(captured, projections))
                with net.recording_dropout_masks() as drawn:
                    grads = K.value_and_grad(loss, variables, indexed=True)[1]  # an Embedding's: its rows
                return captured, grads, net.states() if config.stateful else [], drawn
            captured, grads, states, drawn = (compiled and K.compiled_step(train_step) or train_step)()
            if config.stateful:
                net.set_states(states)
            _record(out, f"train{step}:out", K, captured)  # elementwise: the scalar loss cancels terms
            for where, masks in sorted(drawn.items()):
                for k, m in enumerate(masks or []):  # the oracles apply the same masks
                    out[f"dropout_mask:train{step}:{where}[{k}]"] = np.asarray(K.to_numpy(m))
            if first:
                for name, g in zip(names, grads):
                    out[f"grad:{name}"] = K.to_numpy(K.densify(g))
                rest = grads[len(weights):]
                if x_var is not None:
                    out["grad:input"], rest = K.to_numpy(rest[0]), rest[1:]
                _record(out, "grad:initial_state", K, rest)
            if optimizer is not None:
                optimizer.apply_gradients(zip(grads[:len(weights)], weights), compiled=compiled)
        if optimizer is not None:
            for name, w in zip(names, weights):
                out[f"trained:{name}"] = K.to_numpy(w)
    return out


def run_config(config: Config, backend_names: Sequence[str], dtype: Optional[str] = None,
               oracles: Sequence[str] = (), steps: int = 3) -> ConfigResult:
    """Run `config` on every backend (and oracle) and compare every pair."""
    dtype = dtype or config.dtype
    result = ConfigResult(config.id, dtype, config=config)
    outputs = {}
    for name in backend_names:
        start = time.perf_counter()
        try:
            with settings.collect_declines() as declined:
                outputs[name] = run_backend(config, name, dtype, steps)
            if declined and parse_side(name)[1] and has_fast_paths(parse_side(name)[0]):
                result.declined[name] = sorted(set(declined))
        except Exception as e:  # a crash is a failure of this backend on this config
            result.errors[name] = _describe(e)
        result.seconds[name] = time.perf_counter() - start
    if oracles:
        from .oracles import inference_only, not_applicable, run_oracle
        reference = next((outputs[b] for b in backend_names if b in outputs), None)
        for oracle in oracles:
            reason = not_applicable(oracle, config)
            if reason:
                result.skipped[oracle] = reason
                continue
            if inference_only(oracle, config):
                result.inference_only[oracle] = inference_only(oracle, config)
            start = time.perf_counter()
            try:
                got = run_oracle(oracle, config, dtype, reference)
            except Exception as e:
                result.errors[oracle] = _describe(e)
                got = None
            result.seconds[oracle] = time.perf_counter() - start
            if got is not None:
                outputs[oracle] = got
    tol = TOLERANCE[dtype]
    names = [n for n in list(backend_names) + list(oracles) if n in outputs]
    stats = {}  # each tensor's float64 copy and extremes, shared by the pairs it is in
    for a, b in combinations(names, 2):
        if a in oracles and b in oracles:
            continue
        result.pairs[(a, b)] = _compare(outputs[a], outputs[b], tol, partial=b in oracles, stats=stats)
    return result


def _compare(a: dict, b: dict, tol: float, partial: bool, stats: Optional[dict] = None) -> list:
    """Diffs of every tensor of `a` in `b` (an oracle computes a subset: `partial`)."""
    diffs = []
    for key in a:
        if key not in b:
            if not partial:
                diffs.append(compare_arrays(key, a[key], None, tol))
            continue
        exact = key.startswith(("init:", "dropout_mask:"))  # initial weights and host-drawn masks: bit-identical
        diffs.append(compare_arrays(key, a[key], b[key], 0.0 if exact else tol, stats))
    if not partial:
        diffs += [compare_arrays(key, None, b[key], tol) for key in b if key not in a]
    return diffs


def _describe(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(e).__name__}: {e}{where}"


def quiet_threads(sides: Sequence[str] = ("torch", "tensorflow")) -> None:
    """One thread per framework in use (and for BLAS): the matrix is thousands of tiny ops, where thread
    pools only cost."""
    from multirnn.backends import frameworks
    sides = {parse_side(side)[0] for side in sides}
    if frameworks.HAS_TORCH and {"torch", "torch_nn"} & sides:
        import torch
        torch.set_num_threads(1)
    if frameworks.HAS_THREADPOOLCTL:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1, user_api="blas")
    if frameworks.HAS_TENSORFLOW and {"tensorflow", "tf_keras"} & sides:
        tf = frameworks.require("tensorflow")
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow is already initialized in this process
            pass


def _run_chunk(jobs, backend_names, oracles, steps):
    return [run_config(c, [b for b in backend_names if b not in left_out], d, [o for o in oracles if o not in left_out],
                       steps) for c, d, left_out in jobs]


def matrix_tasks(configs: Sequence[Config], backend_names: Sequence[str], dtypes: Sequence[Optional[str]] = (None,),
                 oracles: Sequence[str] = (), workers: int = 1, steps: int = 3,
                 float32_covering: Sequence[str] = ()) -> list:
    """The matrix as pool tasks (pool.py): chunks of (configuration, dtype) jobs, about 8 per worker or 16 at most.

    The sides in `float32_covering` run float32 only on the configurations of the covering subset
    (`matrix.quick()`, every pair of option values); every side runs every other dtype on all `configs`."""
    from .matrix import quick
    covering = set(quick()) if float32_covering else set()

    def left_out(config, dtype):
        if (dtype or config.dtype) != "float32" or config in covering:
            return ()
        return tuple(float32_covering)
    jobs = [(c, d, left_out(c, d)) for c in configs for d in dtypes]
    size = max(1, min(16, len(jobs) // (max(1, workers) * 8)))
    return [(_run_chunk, jobs[i:i + size], list(backend_names), list(oracles), steps) for i in range(0, len(jobs), size)]


def run_matrix(configs: Sequence[Config], backend_names: Sequence[str], dtypes: Sequence[Optional[str]] = (None,),
               oracles: Sequence[str] = (), progress=None, workers: int = 1, steps: int = 3) -> List[ConfigResult]:
    """Run many configurations (in `workers` processes); `progress(done, total, result)` after each."""
    from .pool import run_tasks
    tasks = matrix_tasks(configs, backend_names, dtypes, oracles, workers, steps)
    return run_tasks(tasks, workers, list(backend_names) + list(oracles), progress)


__all__ = ["TOLERANCE", "GENERIC", "parse_side", "with_generic", "run_backend", "run_config", "run_matrix", "matrix_tasks",
           "floatx", "quiet_threads"]
