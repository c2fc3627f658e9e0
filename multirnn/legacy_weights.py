"""Recurrent weights in an older layout read into the Keras 2 one: Keras 1's per-gate lists (keras1_weights)
and Keras 2.1's cuDNN layers (cudnn_weights), for an LSTM/GRU layer or cell, or a Bidirectional of one."""
import numpy as np

from multirnn import cudnn_weights, keras1_weights


def accept(weights, layer) -> list:
    """`weights` unchanged, or converted when they are a Keras 1 LSTM/GRU list or a Keras 2.1 CuDNNLSTM/CuDNNGRU
    list for `layer` (a Bidirectional converts each direction's half); a list that cannot fit is a ValueError."""
    weights = list(weights)
    forward, backward = getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None)
    if forward is not None and backward is not None:
        if len(weights) % 2:
            return weights
        half = len(weights) // 2
        return accept(weights[:half], forward) + accept(weights[half:], backward)
    cell = {4: "LSTM", 3: "GRU"}.get(getattr(layer, "gates", 0))
    if cell is None:
        return weights
    owner = f"{type(layer).__name__} {layer.name!r}"
    if cudnn_weights.is_cudnn(weights, layer):
        if not layer.use_bias:
            raise ValueError(f"{owner}: a Keras 2.1 CuDNN{cell} weight list holds cuDNN's two biases; "
                             "this layer has use_bias=False")
        if cell == "GRU" and not layer.reset_after:
            raise ValueError(f"{owner}: a Keras 2.1 CuDNNGRU weight list (bias of shape {np.shape(weights[2])}) is a GRU "
                             "with reset_after=True; build the layer with reset_after=True to load it")
        return cudnn_weights.from_cudnn(weights, cell)
    if len(weights) != 3 * keras1_weights.GATES[cell] or len(weights) == len(layer.weights):
        return weights
    if not layer.use_bias:
        raise ValueError(f"{owner}: a Keras 1 {cell} weight list ({len(weights)} arrays) holds biases; "
                         "this layer has use_bias=False")
    if getattr(layer, "reset_after", False):
        raise ValueError(f"{owner}: a Keras 1 GRU weight list (9 arrays) is a GRU with reset_after=False; "
                         "build the layer with reset_after=False to load it")
    return keras1_weights.from_keras1(weights, cell)
