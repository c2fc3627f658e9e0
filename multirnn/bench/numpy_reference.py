"""A hand-written NumPy forward pass and backpropagation through time: the benchmark's anchor.

LSTM (gates [i, f, c, o]), GRU (reset_after=True, gates [z, r, h], bias (2, 3u)) and SimpleRNN
(tanh), in the Keras 2 weight layout `[kernel (D, k·u), recurrent_kernel (u, k·u), bias]`, with
the mean squared error on the last output. Written the way a careful NumPy user would: time-major
arrays, one GEMM for the input projections of all timesteps, one recurrent GEMM per step forward
and one backward, the weight gradients as three GEMMs/sums after the loop.
"""
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

Weights = Sequence[np.ndarray]


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """The logistic function in place, through tanh (no overflow for large |a|)."""
    a *= 0.5
    np.tanh(a, out=a)
    a += 1.0
    a *= 0.5
    return a


def _time_major(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.swapaxes(x, 0, 1))


def _input_projection(xs: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x·W + b for every timestep: (T, B, D) -> (T, B, k·u) in one GEMM."""
    steps, batch, features = xs.shape
    return (xs.reshape(steps * batch, features) @ kernel + bias).reshape(steps, batch, -1)


def _weight_grads(xs: np.ndarray, hs: np.ndarray, d_input: np.ndarray, d_recurrent: np.ndarray):
    """dW = Xᵀ·dA, dU = Hᵀ·dA' over all timesteps at once."""
    steps, batch, _ = d_input.shape
    rows = steps * batch
    d_kernel = xs.reshape(rows, -1).T @ d_input.reshape(rows, -1)
    d_recurrent_kernel = hs[:steps].reshape(rows, -1).T @ d_recurrent.reshape(rows, -1)
    return d_kernel, d_recurrent_kernel


def _mse_grad(last: np.ndarray, y: np.ndarray) -> Tuple[float, np.ndarray]:
    diff = last - y
    return float(np.mean(diff * diff)), diff * (2.0 / diff.size)


# ---- LSTM
def _lstm_forward(weights: Weights, x: np.ndarray) -> np.ndarray:
    kernel, recurrent, bias = weights
    u = recurrent.shape[0]
    projected = _input_projection(_time_major(x), kernel, bias)
    h = np.zeros((x.shape[0], u), x.dtype)
    c = np.zeros_like(h)
    for step in projected:
        a = step + h @ recurrent
        _sigmoid(a[:, :2 * u])
        _sigmoid(a[:, 3 * u:])
        i, f, g, o = a[:, :u], a[:, u:2 * u], np.tanh(a[:, 2 * u:3 * u]), a[:, 3 * u:]
        c = f * c + i * g
        h = o * np.tanh(c)
    return h


def _lstm_grads(weights: Weights, x: np.ndarray, y: np.ndarray) -> Tuple[float, List[np.ndarray]]:
    kernel, recurrent, bias = weights
    u = recurrent.shape[0]
    xs = _time_major(x)
    gates = _input_projection(xs, kernel, bias)  # pre-activations, replaced by the gate values
    steps, batch, _ = gates.shape
    hs = np.zeros((steps + 1, batch, u), x.dtype)
    cs = np.zeros_like(hs)
    tanh_c = np.empty((steps, batch, u), x.dtype)
    for t in range(steps):
        a = gates[t]
        a += hs[t] @ recurrent
        _sigmoid(a[:, :2 * u])
        np.tanh(a[:, 2 * u:3 * u], out=a[:, 2 * u:3 * u])
        _sigmoid(a[:, 3 * u:])
        i, f, g, o = a[:, :u], a[:, u:2 * u], a[:, 2 * u:3 * u], a[:, 3 * u:]
        np.multiply(f, cs[t], out=cs[t + 1])
        cs[t + 1] += i * g
        np.tanh(cs[t + 1], out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=hs[t + 1])
    loss, dh = _mse_grad(hs[steps], y)
    dc = np.zeros_like(dh)
    d_gates = np.empty_like(gates)
    for t in reversed(range(steps)):
        a, da = gates[t], d_gates[t]
        i, f, g, o = a[:, :u], a[:, u:2 * u], a[:, 2 * u:3 * u], a[:, 3 * u:]
        dc += dh * o * (1.0 - tanh_c[t] * tanh_c[t])
        np.multiply(dc * i, 1.0 - g * g, out=da[:, 2 * u:3 * u])
        np.multiply(dc * g, i * (1.0 - i), out=da[:, :u])
        np.multiply(dc * cs[t], f * (1.0 - f), out=da[:, u:2 * u])
        np.multiply(dh * tanh_c[t], o * (1.0 - o), out=da[:, 3 * u:])
        dc *= f
        dh = da @ recurrent.T
    d_kernel, d_recurrent = _weight_grads(xs, hs, d_gates, d_gates)
    return loss, [d_kernel, d_recurrent, d_gates.sum(axis=(0, 1))]


# ---- GRU, reset gate after the recurrent product
def _gru_forward(weights: Weights, x: np.ndarray) -> np.ndarray:
    kernel, recurrent, bias = weights
    u = recurrent.shape[0]
    projected = _input_projection(_time_major(x), kernel, bias[0])
    h = np.zeros((x.shape[0], u), x.dtype)
    for step in projected:
        inner = h @ recurrent + bias[1]
        zr = _sigmoid(step[:, :2 * u] + inner[:, :2 * u])
        z, r = zr[:, :u], zr[:, u:]
        candidate = np.tanh(step[:, 2 * u:] + r * inner[:, 2 * u:])
        h = candidate + z * (h - candidate)
    return h


def _gru_grads(weights: Weights, x: np.ndarray, y: np.ndarray) -> Tuple[float, List[np.ndarray]]:
    kernel, recurrent, bias = weights
    u = recurrent.shape[0]
    xs = _time_major(x)
    gates = _input_projection(xs, kernel, bias[0])  # x-projections, replaced by z, r, candidate
    steps, batch, _ = gates.shape
    hs = np.zeros((steps + 1, batch, u), x.dtype)
    inner_h = np.empty((steps, batch, u), x.dtype)  # (h·U + b)[h block], needed for dr
    for t in range(steps):
        a = gates[t]
        inner = hs[t] @ recurrent + bias[1]
        a[:, :2 * u] += inner[:, :2 * u]
        _sigmoid(a[:, :2 * u])
        inner_h[t] = inner[:, 2 * u:]
        a[:, 2 * u:] += a[:, u:2 * u] * inner_h[t]
        np.tanh(a[:, 2 * u:], out=a[:, 2 * u:])
        z, candidate = a[:, :u], a[:, 2 * u:]
        np.subtract(hs[t], candidate, out=hs[t + 1])
        hs[t + 1] *= z
        hs[t + 1] += candidate
    loss, dh = _mse_grad(hs[steps], y)
    d_input = np.empty_like(gates)
    d_inner = np.empty_like(gates)
    for t in reversed(range(steps)):
        a, dx, dn = gates[t], d_input[t], d_inner[t]
        z, r, candidate = a[:, :u], a[:, u:2 * u], a[:, 2 * u:]
        np.multiply(dh * (1.0 - z), 1.0 - candidate * candidate, out=dx[:, 2 * u:])
        np.multiply(dh * (hs[t] - candidate), z * (1.0 - z), out=dx[:, :u])
        np.multiply(dx[:, 2 * u:] * inner_h[t], r * (1.0 - r), out=dx[:, u:2 * u])
        dn[:, :2 * u] = dx[:, :2 * u]
        np.multiply(dx[:, 2 * u:], r, out=dn[:, 2 * u:])
        dh = dh * z + dn @ recurrent.T
    d_kernel, d_recurrent = _weight_grads(xs, hs, d_input, d_inner)
    d_bias = np.stack([d_input.sum(axis=(0, 1)), d_inner.sum(axis=(0, 1))])
    return loss, [d_kernel, d_recurrent, d_bias]


# ---- SimpleRNN (tanh)
def _simple_rnn_forward(weights: Weights, x: np.ndarray) -> np.ndarray:
    kernel, recurrent, bias = weights
    h = np.zeros((x.shape[0], recurrent.shape[0]), x.dtype)
    for step in _input_projection(_time_major(x), kernel, bias):
        h = np.tanh(step + h @ recurrent)
    return h


def _simple_rnn_grads(weights: Weights, x: np.ndarray, y: np.ndarray) -> Tuple[float, List[np.ndarray]]:
    kernel, recurrent, bias = weights
    xs = _time_major(x)
    projected = _input_projection(xs, kernel, bias)
    steps, batch, u = projected.shape
    hs = np.zeros((steps + 1, batch, u), x.dtype)
    for t in range(steps):
        np.tanh(projected[t] + hs[t] @ recurrent, out=hs[t + 1])
    loss, dh = _mse_grad(hs[steps], y)
    d_pre = projected  # the pre-activations are no longer needed: reuse their memory
    for t in reversed(range(steps)):
        np.multiply(dh, 1.0 - hs[t + 1] * hs[t + 1], out=d_pre[t])
        dh = d_pre[t] @ recurrent.T
    d_kernel, d_recurrent = _weight_grads(xs, hs, d_pre, d_pre)
    return loss, [d_kernel, d_recurrent, d_pre.sum(axis=(0, 1))]


_FORWARD: Dict[str, Callable] = {"LSTM": _lstm_forward, "GRU": _gru_forward, "SimpleRNN": _simple_rnn_forward}
_GRADS: Dict[str, Callable] = {"LSTM": _lstm_grads, "GRU": _gru_grads, "SimpleRNN": _simple_rnn_grads}


def forward(cell: str, weights: Weights, x: np.ndarray) -> np.ndarray:
    """The last output (batch, units) of `cell` on `x` (batch, timesteps, features)."""
    return _FORWARD[cell](weights, x)


def loss_and_grads(cell: str, weights: Weights, x: np.ndarray, y: np.ndarray) -> Tuple[float, List[np.ndarray]]:
    """mean((last output − y)²) and its gradients for `weights`, in the same layout."""
    return _GRADS[cell](weights, x, y)


class NumpyBPTT:
    """A model-like wrapper: `predict_on_batch(x)` and `train_on_batch(x, y)` with plain SGD."""

    def __init__(self, cell: str, weights: Weights, learning_rate: float):
        if cell not in _FORWARD:
            raise ValueError(f"unknown cell {cell!r}; expected one of {', '.join(_FORWARD)}")
        self.cell, self.learning_rate = cell, learning_rate
        self.weights = [np.array(w) for w in weights]

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray:
        return forward(self.cell, self.weights, x)

    def train_on_batch(self, x: np.ndarray, y: np.ndarray) -> float:
        loss, grads = loss_and_grads(self.cell, self.weights, x, y)
        for w, g in zip(self.weights, grads):
            w -= self.learning_rate * g
        return loss
