"""Keras 2.1's cuDNN weight layout (CuDNNLSTM, CuDNNGRU) to and from the Keras 2 LSTM/GRU layout.

Keras 2.1's cuDNN layers store, per gate, the input kernel block (features, units) with its entries in
cuDNN's column-major order, the recurrent kernel block transposed, and cuDNN's two biases: an
input and a recurrent one. A Keras 2 LSTM holds their sum (bias (4u,) against (8u,)); the two GRU
biases are the rows of GRU(reset_after=True)'s (2, 3u) bias (against (6u,)). This is the conversion
Keras's HDF5 loader applies (tf_keras still does, and the tests compare with it).
"""
from typing import List, Sequence

import numpy as np

GATES = {"LSTM": 4, "GRU": 3}


def _per_gate(matrix: np.ndarray, gates: int, transform) -> np.ndarray:
    return np.concatenate([transform(block) for block in np.split(matrix, gates, axis=1)], axis=1)


def _input_from_cudnn(block: np.ndarray) -> np.ndarray:
    return block.T.reshape(block.shape, order="F")


def _input_to_cudnn(block: np.ndarray) -> np.ndarray:
    return block.T.reshape(block.shape, order="C")


def _arrays(weights: Sequence[np.ndarray], cell: str, bias_shape, layout: str):
    """The three arrays and the unit count, after checking the count and the bias shape of `layout`."""
    if cell not in GATES:
        raise ValueError(f"the cuDNN layout exists for LSTM and GRU, not {cell!r}")
    shapes = [np.shape(w) for w in weights]
    if len(weights) != 3 or len(shapes[1]) != 2:
        raise ValueError(f"{layout} weights are [kernel, recurrent_kernel, bias] (a cuDNN layer always has a "
                         f"bias), got {len(weights)} arrays of shapes {shapes}")
    units = shapes[1][0]
    expected = bias_shape(GATES[cell] * units)
    if shapes[2] != expected:
        raise ValueError(f"{layout} bias for {units} units must have shape {expected}, got {shapes[2]}")
    return [np.asarray(w) for w in weights], units


def from_cudnn(weights: Sequence[np.ndarray], cell: str) -> List[np.ndarray]:
    """Keras 2.1 CuDNNLSTM/CuDNNGRU weights -> LSTM / GRU(reset_after=True) weights `[kernel, recurrent, bias]`."""
    (kernel, recurrent, bias), units = _arrays(weights, cell, lambda width: (2 * width,), f"Keras 2.1 CuDNN{cell}")
    gates = GATES[cell]
    kernel = _per_gate(kernel, gates, _input_from_cudnn)
    recurrent = _per_gate(recurrent, gates, np.transpose)
    width = gates * units
    bias = bias[:width] + bias[width:] if cell == "LSTM" else bias.reshape(2, width)
    return [kernel, recurrent, bias]


def to_cudnn(weights: Sequence[np.ndarray], cell: str) -> List[np.ndarray]:
    """LSTM / GRU(reset_after=True) weights -> the Keras 2.1 CuDNNLSTM/CuDNNGRU layout (an LSTM's bias split
    in two equal halves: only their sum matters)."""
    shape = (lambda width: (width,)) if cell == "LSTM" else (lambda width: (2, width))
    layout = "LSTM" if cell == "LSTM" else "GRU(reset_after=True)"
    (kernel, recurrent, bias), _ = _arrays(weights, cell, shape, layout)
    gates = GATES[cell]
    kernel = _per_gate(kernel, gates, _input_to_cudnn)
    recurrent = _per_gate(recurrent, gates, np.transpose)
    bias = np.tile(0.5 * bias, 2) if cell == "LSTM" else bias.reshape(-1)
    return [kernel, recurrent, bias]


def is_cudnn(weights: Sequence, layer) -> bool:
    """Whether `weights` are a cuDNN list for the LSTM/GRU (layer or cell) `layer`: three arrays, bias (2·k·u,)."""
    gates = getattr(layer, "gates", 0)
    return gates in (3, 4) and len(weights) == 3 and np.shape(weights[2]) == (2 * gates * layer.units,)
