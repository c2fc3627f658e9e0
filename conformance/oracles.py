"""Oracles: the same configuration in tf_keras and in torch.nn, with the reference's initial weights.

An oracle computes a subset of the runner's tensors (forward outputs and states, the stateful
run, the training-mode outputs and gradients of the first step) under the same names. An oracle
draws its own dropout masks, so with dropout it is compared in inference mode only.
"""
from typing import Dict, Optional

import numpy as np

from multirnn import interop
from multirnn.backends import frameworks

from .matrix import BATCH, FEATURES, STEPS, UNITS, VOCAB, Config
from .model import host_inputs, loss_weights, output_shapes

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


def inference_only(config: Config) -> Optional[str]:
    """Why an oracle's training-mode tensors cannot be compared for `config`, or None when they can."""
    return "dropout masks in training are drawn by the oracle itself" if config.uses_dropout else None


def run_oracle(oracle: str, config: Config, dtype: str, reference: Optional[dict]) -> Optional[Dict[str, np.ndarray]]:
    """The oracle's tensors for `config`, or None when it is not applicable (or no reference ran)."""
    if reference is None or not_applicable(oracle, config):
        return None
    weights = [v for k, v in reference.items() if k.startswith("init:")]
    names = [k[5:] for k in reference if k.startswith("init:")]
    run = _tf_keras if oracle == "tf_keras" else _torch_nn
    return run(config, dtype, weights, names)


def _loss_projections(config, dtype):
    return loss_weights(output_shapes(config), dtype)


# ---- tf_keras

def _tf_keras(config: Config, dtype: str, weights: list, names: list) -> dict:
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
    if inference_only(config):
        return out
    projections = [tf.constant(r) for r in _loss_projections(config, dtype)]
    variables = (front.trainable_weights if front is not None else []) + list(rnn.trainable_weights)
    x = tf.Variable(batches[0]) if batches[0].dtype.kind == "f" else tf.constant(batches[0])
    h0_vars = [tf.Variable(s) for s in h0] if h0 else []
    with tf.GradientTape() as tape:
        tape.watch(variables)
        outputs = call(x, True, h0_vars or None)
        loss = tf.add_n([tf.reduce_sum(o * r) for o, r in zip(outputs, projections)])
    extra = ([x] if isinstance(x, tf.Variable) else []) + h0_vars
    grads = tape.gradient(loss, variables + extra, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    _put(out, "train0:out", outputs)
    for name, g in zip(names, grads):
        out[f"grad:{name}"] = tf.convert_to_tensor(g).numpy()
    rest = grads[len(variables):]
    if isinstance(x, tf.Variable):
        out["grad:input"], rest = rest[0].numpy(), rest[1:]
    _put(out, "grad:initial_state", rest)
    return out


def _put(out: dict, prefix: str, tensors) -> None:
    for k, t in enumerate(tensors):
        out[f"{prefix}[{k}]"] = np.asarray(t.numpy() if hasattr(t, "numpy") else t)


# ---- torch.nn

def _torch_nn(config: Config, dtype: str, weights: list, names: list) -> dict:
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
    if inference_only(config):
        return out
    projections = [tensor(r) for r in _loss_projections(config, dtype)]
    x = tensor(batches[0], grad=True)
    h0_leaves = [tensor(s, grad=True) for s in h0] if h0 else []
    outputs, _ = call(x, to_torch_states(h0_leaves) if h0 else None)
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
