"""Weight converters between multirnn (the Keras 2 layout) and torch.nn, Keras 1 and tf_keras.

Keras 2 layout: `[kernel (D, k*u), recurrent_kernel (u, k*u), bias]`, gates LSTM [i, f, c, o],
GRU [z, r, h] (bias (2, 3u) when reset_after), SimpleRNN one block.
torch.nn: `weight_ih_l{n}` (k*u, D), `weight_hh_l{n}` (k*u, u), `bias_ih_l{n}`, `bias_hh_l{n}`,
gates LSTM [i, f, g, o], GRU [r, z, n] (reset after the recurrent product); `_reverse` suffix for
the backward direction. LSTM/SimpleRNN have one bias here: export puts it in `bias_ih` with a
zero `bias_hh`, import sums the two. Keras 1 lists its weights per gate (LSTM i, c, f, o); Keras 2.1's
cuDNN layers keep cuDNN's layout and two biases (cudnn_weights.py).
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

from multirnn import backend as K
from multirnn import cudnn_weights, keras1_weights, layers

CELLS = ("SimpleRNN", "GRU", "LSTM")
_TORCH_CLASS = {"SimpleRNN": "RNN", "GRU": "GRU", "LSTM": "LSTM"}
_GRU_TO_TORCH = (1, 0, 2)  # torch block r, z, n = ours z, r, h at indices 1, 0, 2 (self-inverse)


def _cell(cell) -> str:
    name = cell if isinstance(cell, str) else type(cell).__name__
    aliases = {"RNN": "SimpleRNN", "rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM", "simple_rnn": "SimpleRNN",
               "CuDNNLSTM": "LSTM", "CuDNNGRU": "GRU"}
    name = aliases.get(name, name)
    if name not in CELLS:
        raise ValueError(f"unknown recurrent cell {cell!r}; expected one of {', '.join(CELLS)}")
    return name


def _blocks(x: np.ndarray, count: int, axis: int = -1) -> List[np.ndarray]:
    return np.split(np.asarray(x), count, axis=axis)


def _reorder(x: np.ndarray, cell: str, axis: int = -1) -> np.ndarray:
    """Swap the first two GRU blocks (z, r <-> r, z); identity for LSTM and SimpleRNN."""
    if cell != "GRU":
        return np.asarray(x)
    parts = _blocks(x, 3, axis)
    return np.concatenate([parts[i] for i in _GRU_TO_TORCH], axis=axis)


def _direction_to_torch(weights: Sequence[np.ndarray], cell: str, suffix: str) -> Dict[str, np.ndarray]:
    kernel, recurrent = (np.asarray(w) for w in weights[:2])
    out = {f"weight_ih{suffix}": _reorder(kernel, cell).T.copy(),
           f"weight_hh{suffix}": _reorder(recurrent, cell).T.copy()}
    if len(weights) > 2:
        bias = np.asarray(weights[2])
        if cell == "GRU":
            if bias.ndim != 2:
                raise ValueError("torch.nn.GRU matches GRU(reset_after=True) only (bias of shape (2, 3*units)); "
                                 f"got a bias of shape {bias.shape} (reset_after=False)")
            b_ih, b_hh = _reorder(bias[0], cell), _reorder(bias[1], cell)
        else:
            b_ih, b_hh = bias, np.zeros_like(bias)
        out[f"bias_ih{suffix}"], out[f"bias_hh{suffix}"] = b_ih.copy(), b_hh.copy()
    return out


def _direction_from_torch(state: dict, cell: str, suffix: str) -> List[np.ndarray]:
    def get(key):
        value = state[key]
        return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    weights = [_reorder(get(f"weight_ih{suffix}").T, cell), _reorder(get(f"weight_hh{suffix}").T, cell)]
    if f"bias_ih{suffix}" in state:
        b_ih, b_hh = get(f"bias_ih{suffix}"), get(f"bias_hh{suffix}")
        weights.append(np.stack([_reorder(b_ih, cell), _reorder(b_hh, cell)]) if cell == "GRU" else b_ih + b_hh)
    return [np.ascontiguousarray(w) for w in weights]


def keras_to_torch(weights: Sequence[np.ndarray], cell, bidirectional: bool = False,
                   layer: int = 0) -> Dict[str, np.ndarray]:
    """Keras 2 weights (forward then backward when bidirectional) -> torch.nn state-dict arrays."""
    cell = _cell(cell)
    weights = list(weights)
    half = len(weights) // 2 if bidirectional else len(weights)
    if half not in (2, 3) or (bidirectional and len(weights) % 2):
        raise ValueError(f"expected [kernel, recurrent_kernel(, bias)] per direction, got {len(weights)} arrays")
    out = _direction_to_torch(weights[:half], cell, f"_l{layer}")
    if bidirectional:
        out.update(_direction_to_torch(weights[half:], cell, f"_l{layer}_reverse"))
    return out


def torch_to_keras(state_dict: dict, cell, bidirectional: Optional[bool] = None, layer: int = 0) -> List[np.ndarray]:
    """torch.nn state dict (arrays or tensors) -> Keras 2 weights; biases b_ih + b_hh for LSTM/SimpleRNN."""
    cell = _cell(cell)
    if bidirectional is None:
        bidirectional = f"weight_ih_l{layer}_reverse" in state_dict
    weights = _direction_from_torch(state_dict, cell, f"_l{layer}")
    if bidirectional:
        weights += _direction_from_torch(state_dict, cell, f"_l{layer}_reverse")
    return weights


def _layer_info(layer) -> tuple:
    """(cell name, inner layer, bidirectional) of a multirnn recurrent layer or Bidirectional."""
    inner = getattr(layer, "forward_layer", layer)
    return _cell(type(inner).__name__), inner, inner is not layer


def to_torch(layer) -> Dict[str, "torch.Tensor"]:
    """A multirnn SimpleRNN/GRU/LSTM (or Bidirectional of one) -> a torch.nn state dict."""
    torch = K.frameworks.require("torch")
    cell, _, bidirectional = _layer_info(layer)
    arrays = keras_to_torch(layer.get_weights(), cell, bidirectional)
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


def from_torch(state_dict: dict, layer) -> None:
    """Load a torch.nn.LSTM/GRU/RNN state dict into a built multirnn layer (shapes checked)."""
    cell, _, bidirectional = _layer_info(layer)
    layer.set_weights(torch_to_keras(state_dict, cell, bidirectional))


def torch_module(layer, dtype=None) -> "torch.nn.Module":
    """An equivalent torch.nn.RNN/GRU/LSTM (batch_first) holding the layer's weights."""
    torch = K.frameworks.require("torch")
    cell, inner, bidirectional = _layer_info(layer)
    if cell == "GRU" and not inner.reset_after:
        raise ValueError("torch.nn.GRU matches GRU(reset_after=True) only")
    kwargs = dict(input_size=inner.input_dim, hidden_size=inner.units, batch_first=True,
                  bias=inner.use_bias, bidirectional=bidirectional)
    if cell == "SimpleRNN":
        name = getattr(inner.activation, "__name__", "")
        if name not in ("tanh", "relu"):
            raise ValueError(f"torch.nn.RNN supports tanh and relu, not {name!r}")
        kwargs["nonlinearity"] = name
    module = getattr(torch.nn, _TORCH_CLASS[cell])(**kwargs)
    state = to_torch(layer)
    if dtype is not None:
        module = module.to(getattr(torch, str(dtype)))
    target = next(iter(module.parameters())).dtype
    module.load_state_dict({k: v.to(target) for k, v in state.items()})
    return module


def to_keras1(weights: Sequence[np.ndarray], cell) -> List[np.ndarray]:
    """Keras 2 weights -> the Keras 1 per-gate list (LSTM W_i,U_i,b_i,W_c,U_c,b_c,W_f,...; GRU W_z,...)."""
    return keras1_weights.to_keras1(weights, _cell(cell))


def from_keras1(weights: Sequence[np.ndarray], cell) -> List[np.ndarray]:
    """The Keras 1 per-gate list -> Keras 2 weights `[kernel, recurrent_kernel, bias]`."""
    return keras1_weights.from_keras1(weights, _cell(cell))


def to_cudnn(weights: Sequence[np.ndarray], cell) -> List[np.ndarray]:
    """LSTM / GRU(reset_after=True) weights -> Keras 2.1's CuDNNLSTM/CuDNNGRU layout (bias (8u,) / (6u,))."""
    return cudnn_weights.to_cudnn(weights, _cell(cell))


def from_cudnn(weights: Sequence[np.ndarray], cell) -> List[np.ndarray]:
    """Keras 2.1 CuDNNLSTM/CuDNNGRU weights -> LSTM / GRU(reset_after=True) weights `[kernel, recurrent, bias]`."""
    return cudnn_weights.from_cudnn(weights, _cell(cell))


_TF_KERAS_OPTIONS = ("units", "activation", "recurrent_activation", "use_bias", "dropout", "recurrent_dropout",
                     "return_sequences", "return_state", "go_backwards", "stateful", "unroll", "implementation",
                     "reset_after", "unit_forget_bias", "zero_output_for_mask")


def _options(config: dict, cell: str) -> dict:
    options = {k: config[k] for k in _TF_KERAS_OPTIONS if k in config}
    if cell == "SimpleRNN":
        options.pop("recurrent_activation", None)
        options.pop("implementation", None)
    if cell != "GRU":
        options.pop("reset_after", None)
    if cell != "LSTM":
        options.pop("unit_forget_bias", None)
    return options


def from_tf_keras(tf_layer, backend: Optional[str] = None):
    """A multirnn layer with the options and weights of a built tf_keras SimpleRNN/GRU/LSTM/Bidirectional."""
    inner = getattr(tf_layer, "forward_layer", tf_layer)
    cell = _cell(type(inner).__name__)
    options = _options(inner.get_config(), cell)
    with K.use(backend or K.current_name()):
        ours = getattr(layers, cell)(dtype=inner.dtype, **options)
        if inner is not tf_layer:
            ours = layers.Bidirectional(ours, merge_mode=tf_layer.merge_mode)
        input_dim = int(inner.get_weights()[0].shape[0])
        batch = inner.states[0].shape[0] if inner.stateful and inner.states[0] is not None else None
        ours._build_once((batch, None, input_dim))
        ours.set_weights(tf_layer.get_weights())
    return ours


def to_tf_keras(layer, dtype: Optional[str] = None):
    """A built tf_keras layer with the options and weights of a multirnn recurrent layer (or Bidirectional)."""
    tf_keras = K.frameworks.require("tf_keras")
    cell, inner, bidirectional = _layer_info(layer)
    options = _options(inner.get_config(), cell)
    options.pop("zero_output_for_mask", None)  # tf_keras Bidirectional forces it, as ours does
    dtype = dtype or str(np.asarray(inner.get_weights()[0]).dtype)
    batch = getattr(inner, "batch_size", None) if inner.stateful else None
    tf_inner = getattr(tf_keras.layers, cell)(dtype=dtype, **options)
    tf_layer = tf_keras.layers.Bidirectional(tf_inner, merge_mode=layer.merge_mode, dtype=dtype) \
        if bidirectional else tf_inner
    tf_layer.build((batch, None, inner.input_dim))
    tf_layer.set_weights(layer.get_weights())
    return tf_layer
