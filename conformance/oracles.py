"""Oracles: the same configuration in tf_keras and in torch.nn, with the reference's initial weights.

An oracle computes a subset of the runner's tensors under the same names: forward outputs and
states, the stateful run, the training-mode outputs and gradients of the first step, and for
tf_keras the outputs and weights of every optimizer step (its legacy optimizers). In training mode
the oracles apply the dropout masks multirnn drew (recorded by the runner), so dropout
configurations are compared in training mode too (torch.nn: where it can express the masks).
"""
import contextlib
from typing import Dict, Optional

import numpy as np

from multirnn import interop
from multirnn.backends import frameworks

from .matrix import BATCH, FEATURES, STEPS, UNITS, VOCAB, Config
from .model import host_inputs, loss_weights, output_shapes
from .runner import runner_optimizer
from .tf_optimizers import legacy_optimizer

ORACLES = ("tf_keras", "torch_nn")


def available() -> list:
    """The oracles whose framework is installed."""
    return [name for name, ok in (("tf_keras", frameworks.HAS_TF_KERAS), ("torch_nn", frameworks.HAS_TORCH)) if ok]


def not_applicable(oracle: str, config: Config) -> Optional[str]:
    """Why `oracle` cannot express `config`, or None when it can."""
    if oracle == "tf_keras":
        return None
    if oracle != "torch_nn":
        raise ValueError(f"unknown oracle {oracle!r}; known: {', '.join(ORACLES)}")
    if config.mask != "nomask":
        return "torch.nn recurrent layers take no mask"
    if config.cell == "gru_rb":
        return "torch.nn.GRU resets after the recurrent product (reset_after=True only)"
    if config.cell == "rnn":
        return None if config.activation in ("tanh", "relu") else "torch.nn.RNN supports tanh and relu only"
    if config.activation != "tanh" or config.recurrent_activation != "sigmoid":
        return "torch.nn.GRU/LSTM use tanh and sigmoid"
    return None


def inference_only(oracle: str, config: Config) -> Optional[str]:
    """Why an oracle's training-mode tensors cannot be compared for `config`, or None when they can.

    tf_keras takes multirnn's dropout masks in every configuration; torch.nn only an input mask that is
    the same for every gate (SimpleRNN, or implementation=2) on a unidirectional layer, applied to its input."""
    if oracle == "tf_keras" or not config.uses_dropout:
        return None
    if config.recurrent_dropout:
        return "torch.nn has no recurrent dropout"
    if config.bidirectional:
        return "torch.nn's bidirectional layer takes one input, multirnn's directions draw their own masks"
    if config.cell != "rnn" and config.implementation == 1:
        return "torch.nn takes no per-gate input masks (implementation=1)"
    return None


def run_oracle(oracle: str, config: Config, dtype: str, reference: Optional[dict]) -> Optional[Dict[str, np.ndarray]]:
    """The oracle's tensors for `config`, or None when it is not applicable (or no reference ran)."""
    if reference is None or not_applicable(oracle, config):
        return None
    weights = [v for k, v in reference.items() if k.startswith("init:")]
    names = [k[5:] for k in reference if k.startswith("init:")]
    run = _tf_keras if oracle == "tf_keras" else _torch_nn
    return run(config, dtype, weights, names, reference)


def _loss_projections(config, dtype):
    return loss_weights(output_shapes(config), dtype)


# ---- tf_keras

def _tf_keras(config: Config, dtype: str, weights: list, names: list, reference: dict) -> dict:
    tf, tf_keras = frameworks.require("tensorflow"), frameworks.require("tf_keras")
    L = tf_keras.layers
    front = None
    if config.mask == "embed":
        front = L.Embedding(VOCAB, FEATURES, mask_zero=True, dtype=dtype)
    elif config.mask == "holes":
        front = L.Masking(0.0, dtype=dtype)
    kwargs = config.layer_kwargs()
    if config.bidirectional and config.mask != "nomask" and config.return_sequences:
        kwargs["unroll"] = False  # tf_keras's unrolled loop zeroes masked outputs in the wrong order under go_backwards
    rnn = getattr(L, config.layer_class)(UNITS, dtype=dtype, **kwargs)
    if config.bidirectional:
        rnn = L.Bidirectional(rnn, merge_mode=config.merge_mode, dtype=dtype)
    subs = [rnn.forward_layer, rnn.backward_layer] if config.bidirectional else [rnn]
    for sub in subs:
        sub._could_use_gpu_kernel = False  # the generic eager loop: same math, no per-layer tf.function trace
    if front is not None:
        front.build((BATCH, STEPS))
        count = len(front.weights)
        front.set_weights(weights[:count])
        weights = weights[count:]
    rnn.build((BATCH, STEPS, FEATURES))
    rnn.set_weights(weights)
    data = host_inputs(config, dtype)
    batches, h0 = data["batches"], data["initial_state"]

    def call(x, training, initial_state=None):
        mask = None
        if front is not None:
            mask = front.compute_mask(x)
            x = front(x)
        out = rnn(x, mask=mask, training=training, initial_state=initial_state)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def states():
        return [s for sub in subs for s in sub.states]

    out = {}
    h0_const = [tf.constant(s) for s in h0] if h0 else None
    _put(out, "forward:out", call(tf.constant(batches[0]), False, h0_const))
    if config.stateful:
        _put(out, "forward:state", states())
        _put(out, "stateful_B:out", call(tf.constant(batches[1]), False))
        rnn.reset_states()
        _put(out, "stateful_C:out", call(tf.constant(batches[2]), False))
        rnn.reset_states()
    return _tf_keras_training(config, dtype, names, reference, call, rnn, front, subs, out)


def _tf_keras_training(config, dtype, names, reference, call, rnn, front, subs, out) -> dict:
    """The runner's training steps in tf_keras: multirnn's dropout masks, tf_keras's legacy optimizer."""
    tf = frameworks.require("tensorflow")
    data = host_inputs(config, dtype)
    batches, h0 = data["batches"], data["initial_state"]
    projections = [tf.constant(r) for r in _loss_projections(config, dtype)]
    variables = (front.trainable_weights if front is not None else []) + list(rnn.trainable_weights)
    x_var = tf.Variable(batches[0]) if batches[0].dtype.kind == "f" else None
    h0_vars = [tf.Variable(s) for s in h0] if h0 else []
    steps = sum(1 for k in reference if k.startswith("train") and k.endswith(":out[0]"))
    optimizer = None
    if any(k.startswith("trained:") for k in reference):
        from multirnn import optimizers
        optimizer = legacy_optimizer(runner_optimizer(optimizers, config.optimizer), exact=True)
    prefixes = ["fw.", "bw."] if config.bidirectional else [""]
    for step in range(steps):
        if config.stateful and step == 2:
            rnn.reset_states()
        first = step == 0
        x = x_var if first and x_var is not None else tf.constant(batches[step % len(batches)])
        init = None
        if h0 and (first or not config.stateful):
            init = h0_vars if first else [tf.constant(s) for s in h0]
        extra = ([x_var] if first and x_var is not None else []) + (h0_vars if first else [])
        with _given_masks(subs, prefixes, reference, step), tf.GradientTape() as tape:
            outputs = call(x, True, init)
            loss = tf.add_n([tf.reduce_sum(o * r) for o, r in zip(outputs, projections)])
        grads = tape.gradient(loss, variables + extra, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        _put(out, f"train{step}:out", outputs)
        if first:
            for name, g in zip(names, grads):
                out[f"grad:{name}"] = tf.convert_to_tensor(g).numpy()
            rest = grads[len(variables):]
            if x_var is not None:
                out["grad:input"], rest = rest[0].numpy(), rest[1:]
            _put(out, "grad:initial_state", rest)
        if optimizer is not None:  # an Embedding's gradient stays IndexedSlices: tf_keras's sparse update
            optimizer.apply_gradients(zip(grads[:len(variables)], variables))
    if optimizer is not None:
        for name, v in zip(names, variables):
            out[f"trained:{name}"] = v.numpy()
    return out


_GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


def given_masks(reference: dict, step: int, where: str):
    """The host dropout masks multirnn drew at training step `step` for `where` ('input', 'fw.recurrent', ...)."""
    key = f"dropout_mask:train{step}:{where}["
    masks = [reference[k] for k in sorted(k for k in reference if k.startswith(key))]
    return masks or None


@contextlib.contextmanager
def _given_masks(subs, prefixes, reference, step):
    """tf_keras's cells take multirnn's masks through the `DropoutRNNCellMixin` getters. tf_keras asks
    for one mask per gate (LSTM 4, GRU 3) and uses them all with implementation=1 (which it also
    takes whenever recurrent_dropout is set), only the first otherwise; multirnn draws one per gate
    with implementation=1, a single one otherwise, which then serves every gate."""
    tf = frameworks.require("tensorflow")
    cells = []
    for prefix, sub in zip(prefixes, subs):
        cell = sub.cell

        def layout(masks, count):
            if masks is None:
                return None
            tensors = [tf.constant(m) for m in masks]
            if count == 1:
                return tensors[0]
            return tensors * count if len(tensors) == 1 else tensors
        inputs, recurrent = given_masks(reference, step, prefix + "input"), given_masks(reference, step, prefix + "recurrent")
        cell.get_dropout_mask_for_cell = lambda _x, training, count=1, _m=inputs: layout(_m, count)
        cell.get_recurrent_dropout_mask_for_cell = lambda _x, training, count=1, _m=recurrent: layout(_m, count)
        cells.append(cell)
    try:
        yield
    finally:
        for cell in cells:
            del cell.get_dropout_mask_for_cell, cell.get_recurrent_dropout_mask_for_cell


def _put(out: dict, prefix: str, tensors) -> None:
    for k, t in enumerate(tensors):
        out[f"{prefix}[{k}]"] = np.asarray(t.numpy() if hasattr(t, "numpy") else t)


# ---- torch.nn

def _torch_nn(config: Config, dtype: str, weights: list, names: list, reference: dict) -> dict:
    import torch
    cell = config.layer_class
    bi = config.bidirectional
    tdtype = getattr(torch, dtype)
    kwargs = dict(input_size=FEATURES, hidden_size=UNITS, batch_first=True, bias=config.use_bias, bidirectional=bi)
    if cell == "SimpleRNN":
        kwargs["nonlinearity"] = config.activation
    module = getattr(torch.nn, {"SimpleRNN": "RNN"}.get(cell, cell))(**kwargs).to(tdtype)
    state = interop.keras_to_torch(weights, cell, bi)
    module.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)).to(tdtype) for k, v in state.items()})
    data = host_inputs(config, dtype)
    batches, h0 = data["batches"], data["initial_state"]
    per_dir = config.state_count

    def to_torch_states(states):
        """Ours [h_fw, (c_fw), h_bw, (c_bw)] -> torch h (dirs, B, H) (and c)."""
        dirs = [states[d * per_dir:(d + 1) * per_dir] for d in range(2 if bi else 1)]
        packed = [torch.stack([d[k] for d in dirs]) for k in range(per_dir)]
        return tuple(packed) if per_dir == 2 else packed[0]

    def from_torch_states(hx):
        parts = list(hx) if per_dir == 2 else [hx]
        return [parts[k][d] for d in range(2 if bi else 1) for k in range(per_dir)]

    def call(x, hx=None):
        x = torch.flip(x, [1]) if config.go_backwards else x
        seq, new = module(x, hx)
        if bi:
            fw, bw = seq[..., :UNITS], seq[..., UNITS:]
            fw_out, bw_out = (fw, bw) if config.return_sequences else (fw[:, -1], bw[:, 0])
            merged = {"concat": lambda: [torch.cat([fw_out, bw_out], -1)], "sum": lambda: [fw_out + bw_out],
                      "mul": lambda: [fw_out * bw_out], "ave": lambda: [(fw_out + bw_out) / 2],
                      None: lambda: [fw_out, bw_out]}[config.merge_mode]()
        else:
            merged = [seq if config.return_sequences else seq[:, -1]]
        states = from_torch_states(new)
        return (merged + states if config.return_state else merged), new

    def tensor(a, grad=False):
        return torch.tensor(a, dtype=tdtype, requires_grad=grad)

    out = {}
    with torch.no_grad():
        hx = to_torch_states([tensor(s) for s in h0]) if h0 else None
        outputs, carried = call(tensor(batches[0]), hx)
        _put_torch(out, "forward:out", outputs)
        if config.stateful:
            _put_torch(out, "forward:state", from_torch_states(carried))
            outputs, _ = call(tensor(batches[1]), carried)
            _put_torch(out, "stateful_B:out", outputs)
            outputs, _ = call(tensor(batches[2]))
            _put_torch(out, "stateful_C:out", outputs)
    if inference_only("torch_nn", config):
        return out
    projections = [tensor(r) for r in _loss_projections(config, dtype)]
    x = tensor(batches[0], grad=True)
    h0_leaves = [tensor(s, grad=True) for s in h0] if h0 else []
    masks = given_masks(reference, 0, "input")
    x_in = x * tensor(masks[0])[:, None, :] if masks else x  # the one input mask, the same at every timestep
    outputs, _ = call(x_in, to_torch_states(h0_leaves) if h0 else None)
    loss = sum((o * r).sum() for o, r in zip(outputs, projections))
    params = dict(module.named_parameters())
    grads = torch.autograd.grad(loss, list(params.values()) + [x] + h0_leaves, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, list(params.values()) + [x] + h0_leaves)]
    named = dict(zip(params, grads[:len(params)]))
    if cell != "GRU":  # our single bias feeds both torch biases: its gradient is either one
        named = {k: (torch.zeros_like(g) if k.startswith("bias_hh") else g) for k, g in named.items()}
    for name, g in zip(names, interop.torch_to_keras(named, cell, bi)):
        out[f"grad:{name}"] = g
    _put_torch(out, "train0:out", outputs)
    out["grad:input"] = grads[len(params)].numpy()
    _put_torch(out, "grad:initial_state", grads[len(params) + 1:])
    return out


def _put_torch(out: dict, prefix: str, tensors) -> None:
    for k, t in enumerate(tensors):
        out[f"{prefix}[{k}]"] = t.detach().numpy()
