"""The models section: whole models trained with `fit` in multirnn on every backend and in tf_keras.

Each model of `model_zoo` is compiled with each optimizer below, given the same initial weights
everywhere (multirnn's, built from one seed, copied to tf_keras layer by layer), trained for two
epochs without shuffling, and compared: initial weights (bit-exact), the loss history of every
epoch and output, the weights after training and the predictions. The hyper-parameters are exact
in float32, so tf_keras's float32 hyper-parameter variables do not round them. A model with
dropout trains in tf_keras with the masks multirnn drew (`fit_masks`).
"""
import contextlib
import time
import types
from itertools import combinations
from typing import Dict, List, Optional, Sequence

import numpy as np

from multirnn import backends
from multirnn.backends import config as settings
from multirnn.backends import frameworks, host_random

from . import fit_masks
from .model_zoo import SPECS, ModelSpec
from .report import Report, compare_arrays
from .runner import TOLERANCE, floatx, parse_side

SEED = 4321
EPOCHS = 2
ORACLE = "tf_keras"
MASK = "dropout_mask:"
_BETAS = dict(beta_1=0.875, beta_2=0.9921875, epsilon=1e-7)
OPTIMIZERS = {  # name -> (class of multirnn.optimizers / tf_keras.optimizers.legacy, settings exact in float32)
    "sgd_momentum": ("SGD", dict(learning_rate=0.0625, momentum=0.875)),
    "rmsprop": ("RMSprop", dict(learning_rate=0.0078125, rho=0.875, epsilon=1e-7)),
    "adagrad": ("Adagrad", dict(learning_rate=0.0625, initial_accumulator_value=0.125, epsilon=1e-7)),
    "adadelta": ("Adadelta", dict(learning_rate=0.5, rho=0.875, epsilon=1e-7)),
    "adam": ("Adam", dict(learning_rate=0.0078125, **_BETAS)),
    "adamax": ("Adamax", dict(learning_rate=0.0078125, **_BETAS)),
    "nadam": ("Nadam", dict(learning_rate=0.0078125, **_BETAS)),
}


def case_id(model: str, optimizer: str) -> str:
    """The id of one model with one optimizer, e.g. `model:stacked_lstm~adam` (for --only and known differences)."""
    return f"model:{model}~{optimizer}"


def cases(pattern: Optional[str] = None) -> List[tuple]:
    """(ModelSpec, optimizer name) pairs whose id matches any comma-separated glob or substring of `pattern`."""
    import fnmatch
    pats = [p.strip() for p in (pattern or "").split(",") if p.strip()]
    chosen = []
    for spec in SPECS:
        for opt in OPTIMIZERS:
            cid = case_id(spec.name, opt)
            if not pats or any(fnmatch.fnmatchcase(cid, p) if any(c in p for c in "*?[") else p in cid for p in pats):
                chosen.append((spec, opt))
    return chosen


def _multirnn_optimizer(name: str):
    from multirnn import optimizers
    cls, kwargs = OPTIMIZERS[name]
    return getattr(optimizers, cls)(**kwargs)


def _weighted_names(model) -> List[str]:
    return [layer.name for layer in model.layers if layer.get_weights()]


def _collect(out: dict, prefix: str, model, names: Sequence[str]) -> None:
    for name in names:
        for i, w in enumerate(model.get_layer(name).get_weights()):
            out[f"{prefix}:{name}[{i}]"] = np.asarray(w)


def _fit_and_record(model, spec: ModelSpec, xs, ys, names, out: dict, callbacks=()) -> None:
    x, y = (xs if len(xs) > 1 else xs[0]), (ys if len(ys) > 1 else ys[0])
    history = model.fit(x, y, batch_size=spec.batch_size, epochs=EPOCHS, shuffle=False, verbose=0,
                        callbacks=list(callbacks))
    for key, values in history.history.items():
        if key == "loss" or key.endswith("_loss"):
            out[f"loss_history:{key}"] = np.asarray(values, dtype=np.float64)
    _collect(out, "trained", model, names)
    predictions = model.predict(x, batch_size=spec.batch_size, verbose=0)
    for k, p in enumerate(predictions if isinstance(predictions, list) else [predictions]):
        out[f"predict[{k}]"] = np.asarray(p)


def run_multirnn(spec: ModelSpec, optimizer: str, side: str, dtype: str) -> Dict[str, np.ndarray]:
    """The model trained on one backend side ('numpy', 'torch/generic', ...): every compared tensor by name."""
    import multirnn.layers
    import multirnn.models
    namespace = types.SimpleNamespace(layers=multirnn.layers, models=multirnn.models)
    backend_name, fast = parse_side(side)
    generic = contextlib.nullcontext() if fast else settings.use_fast_paths(False)
    xs, ys = spec.data(dtype)
    out: Dict[str, np.ndarray] = {}
    with floatx(dtype), backends.use(backend_name), generic:
        host_random.set_seed(SEED)
        model = spec.build(namespace)
        # the mask recorder reads host values per batch: a side that compiles its steps runs them eagerly here
        model.compile(optimizer=_multirnn_optimizer(optimizer), loss=spec.loss, loss_weights=spec.loss_weights,
                      run_eagerly=True)
        names = _weighted_names(model)
        _collect(out, "init", model, names)
        with fit_masks.recording(model, backend_name) as drawn:
            _fit_and_record(model, spec, xs, ys, names, out)
    for layer, calls in drawn.items():
        for step, masks in enumerate(calls):
            for kind, values in masks.items():
                for k, m in enumerate(values):
                    out[f"{MASK}{layer}:{step}:{kind}[{k}]"] = m
    return out


def _masks_of(reference: Dict[str, np.ndarray]) -> Dict[str, List[dict]]:
    """The recorded dropout masks of `reference` as `fit_masks.replaying` takes them."""
    drawn: Dict[str, List[dict]] = {}
    for key in sorted(k for k in reference if k.startswith(MASK)):
        layer, step, rest = key[len(MASK):].split(":")
        kind, k = rest[:-1].split("[")
        calls = drawn.setdefault(layer, [])
        while len(calls) <= int(step):
            calls.append({})
        calls[int(step)].setdefault(kind, []).append((int(k), reference[key]))
    return {layer: [{kind: [m for _, m in sorted(v, key=lambda e: e[0])] for kind, v in call.items()}
                    for call in calls] for layer, calls in drawn.items()}


@contextlib.contextmanager
def _tf_keras_floatx(dtype: str):
    tf_keras = frameworks.require("tf_keras")
    previous = tf_keras.backend.floatx()
    tf_keras.backend.set_floatx(dtype)
    try:
        yield tf_keras
    finally:
        tf_keras.backend.set_floatx(previous)


_TF_MODELS: Dict[tuple, object] = {}


def _tf_keras_model(spec: ModelSpec, dtype: str):
    """The tf_keras model of `spec` in `dtype`, built once per process (compiling again resets its optimizer).

    Its recurrent layers run tf_keras's generic loop (the same math as the kernel it would select; it
    saves tracing both implementations). `fit` is tf_keras's own traced train function, as users run
    it: in eager mode tf_keras's binary cross-entropy takes another formula (log(p + epsilon))."""
    key = (spec.name, dtype)
    if key not in _TF_MODELS:
        model = spec.build(frameworks.require("tf_keras"))
        for layer in model.layers:
            if hasattr(layer, "_could_use_gpu_kernel"):
                layer._could_use_gpu_kernel = False
        _TF_MODELS[key] = model
    return _TF_MODELS[key]


def run_tf_keras(spec: ModelSpec, optimizer: str, dtype: str, reference: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The same model in tf_keras (its `fit` and its legacy optimizer) from `reference`'s initial weights."""
    from .tf_optimizers import legacy_optimizer
    tf = frameworks.require("tensorflow")
    tf.get_logger().setLevel("ERROR")  # each case is a new model: tf_keras's retracing warnings say nothing here
    xs, ys = spec.data(dtype)
    out: Dict[str, np.ndarray] = {}
    with _tf_keras_floatx(dtype):
        model = _tf_keras_model(spec, dtype)
        model.compile(optimizer=legacy_optimizer(_multirnn_optimizer(optimizer)), loss=spec.loss,
                      loss_weights=spec.loss_weights)
        names = sorted({key[5:].rsplit("[", 1)[0] for key in reference if key.startswith("init:")})
        for name in names:
            count = sum(1 for key in reference if key.startswith(f"init:{name}["))
            model.get_layer(name).set_weights([reference[f"init:{name}[{i}]"] for i in range(count)])
        if spec.stateful:
            model.reset_states()
        _collect(out, "init", model, names)
        drawn = _masks_of(reference)
        callbacks = [fit_masks.replaying(model, drawn, dtype)] if drawn else []
        _fit_and_record(model, spec, xs, ys, names, out, callbacks)
    return out


def run_case(spec: ModelSpec, optimizer: str, sides: Sequence[str], dtype: str, oracle: bool = True) -> Report:
    """One model with one optimizer on every side (and tf_keras), every pair compared."""
    result = Report(case_id(spec.name, optimizer), dtype)
    outputs: Dict[str, dict] = {}
    for side in sides:
        start = time.perf_counter()
        try:
            outputs[side] = run_multirnn(spec, optimizer, side, dtype)
        except Exception as e:  # a crash is a failure of this side
            result.errors[side] = f"{type(e).__name__}: {e}"
        result.seconds[side] = time.perf_counter() - start
    reference = next((outputs[s] for s in sides if s in outputs), None)
    if oracle and frameworks.HAS_TF_KERAS and reference is not None:
        start = time.perf_counter()
        try:
            outputs[ORACLE] = run_tf_keras(spec, optimizer, dtype, reference)
        except Exception as e:
            result.errors[ORACLE] = f"{type(e).__name__}: {e}"
        result.seconds[ORACLE] = time.perf_counter() - start
    tol = TOLERANCE[dtype]
    for a, b in combinations(list(outputs), 2):
        diffs = [compare_arrays(key, outputs[a][key], outputs[b].get(key), 0.0 if key.startswith(("init:", MASK)) else tol)
                 for key in outputs[a] if not (b == ORACLE and key.startswith(MASK))]  # masks: multirnn's only
        diffs += [compare_arrays(key, None, outputs[b][key], tol) for key in outputs[b] if key not in outputs[a]]
        result.pairs[(a, b)] = diffs
    return result


def _run_chunk(jobs, sides, oracle):
    from .model_zoo import by_name
    return [run_case(by_name(name), opt, sides, dtype, oracle) for name, opt, dtype in jobs]


def model_tasks(chosen: Sequence[tuple], sides: Sequence[str], dtypes: Sequence[str] = ("float64", "float32"),
                oracle: bool = True) -> list:
    """The section as pool tasks (pool.py): one task per model and dtype, so that each process builds its
    tf_keras model once."""
    groups: Dict[tuple, list] = {}
    for spec, opt in chosen:
        for dtype in dtypes:
            groups.setdefault((spec.name, dtype), []).append((spec.name, opt, dtype))
    return [(_run_chunk, jobs, list(sides), oracle) for jobs in groups.values()]


def run_cases(chosen: Sequence[tuple], sides: Sequence[str], dtypes: Sequence[str] = ("float64", "float32"),
              oracle: bool = True, progress=None, workers: int = 1) -> List[Report]:
    """Every (ModelSpec, optimizer) of `chosen` in every dtype, in `workers` processes;
    `progress(done, total, report)` after each."""
    from .pool import run_tasks
    return run_tasks(model_tasks(chosen, sides, dtypes, oracle), workers, list(sides) + [ORACLE], progress)


def run_section(sides: Sequence[str], dtypes: Sequence[str] = ("float64", "float32"), pattern: Optional[str] = None,
                oracle: bool = True, progress=None, workers: int = 1) -> List[Report]:
    """Every model x optimizer whose id matches `pattern` (all by default), in every dtype."""
    return run_cases(cases(pattern), sides, dtypes, oracle, progress, workers)


__all__ = ["OPTIMIZERS", "EPOCHS", "case_id", "cases", "run_multirnn", "run_tf_keras", "run_case", "run_cases", "model_tasks", "run_section"]
