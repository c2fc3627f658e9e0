"""Whole-sequence SimpleRNN, GRU and LSTM for the torch backend, with the numbers of `K.rnn` + `step`.

`fused_rnn` runs torch's native kernels (`torch._VF.lstm/gru/rnn_tanh/rnn_relu`) where they express
the configuration, and otherwise `_Recurrence`: one Python loop of torch ops forward and a
hand-written backprop through time whose weight gradients are single GEMMs after the loop.
"""
from typing import List, NamedTuple, Optional

import torch
from torch.autograd.function import once_differentiable

_GATES = {"simple_rnn": 1, "gru": 3, "lstm": 4}
_FLOATS = (torch.float32, torch.float64)

_ACTIVATIONS = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": lambda a: torch.clamp(0.2 * a + 0.5, 0.0, 1.0),
    "relu": torch.relu,
    "linear": lambda a: a,
    "elu": lambda a: torch.nn.functional.elu(a, 1.0),
    "softsign": lambda a: a / (1.0 + torch.abs(a)),
    "softplus": lambda a: torch.maximum(a, a.new_zeros(())) + torch.log1p(torch.exp(-torch.abs(a))),
}

# d act(a) / da from the pre-activation `a` and the value `y`, as torch.autograd takes it for K's ops
# (tanh and sigmoid use torch's own backward kernels, see `_act_grad`).
_DERIVATIVES = {
    "hard_sigmoid": lambda a, y: 0.2 * ((0.2 * a + 0.5 >= 0.0) & (0.2 * a + 0.5 <= 1.0)).to(a.dtype),
    "relu": lambda a, y: (y > 0).to(a.dtype),
    "linear": lambda a, y: torch.ones_like(a),
    "elu": lambda a, y: torch.where(a > 0, 1.0, torch.exp(a)),
    "softsign": lambda a, y: 1.0 / torch.square(1.0 + torch.abs(a)),
    "softplus": lambda a, y: torch.sigmoid(a),
}


class _Spec(NamedTuple):
    """What `_Recurrence` runs: the cell, its activations by name, and whether a backward will follow."""
    cell: str
    activation: str
    recurrent_activation: str
    reset_after: bool
    needs_grad: bool


def _act_grad(name: str, d_y, a, y, out=None):
    """d_y⊙act'(a) given y = act(a), into `out` if given (torch's own backward kernels for tanh and sigmoid)."""
    if name in ("tanh", "sigmoid"):
        kernel = getattr(torch.ops.aten, f"{name}_backward")
        return kernel(d_y, y) if out is None else kernel.grad_input(d_y, y, grad_input=out)
    return torch.mul(d_y, _DERIVATIVES[name](a, y), out=out)


class _Rec:
    """(h⊙m)·U over the gate blocks [lo, hi) with the recurrent dropout masks, and its backward pieces."""

    def __init__(self, U, masks: tuple, lo: int, hi: int):
        u = U.shape[0]
        self.u, self.U = u, U[:, lo * u:hi * u]
        self.per_gate = len(masks) > 1
        self.masks = masks[lo:hi] if self.per_gate else masks
        self.blocks = [U[:, g * u:(g + 1) * u] for g in range(lo, hi)] if self.per_gate else []

    def forward(self, h_tm1, base=None):
        """base + (h_tm1⊙m)·U; `base` is None, a bias or the projected inputs of the step."""
        if self.per_gate:
            r = torch.cat([(h_tm1 * m) @ U_g for m, U_g in zip(self.masks, self.blocks)], -1)
            return r if base is None else base + r
        h = h_tm1 * self.masks[0] if self.masks else h_tm1
        return h @ self.U if base is None else torch.addmm(base, h, self.U)

    def back(self, d_r, base=None):
        """base + what d_r, the gradient of the product, sends to h_tm1."""
        u = self.u
        if self.per_gate:
            d_h = sum((d_r[:, g * u:(g + 1) * u] @ U_g.t()) * m
                      for g, (m, U_g) in enumerate(zip(self.masks, self.blocks)))
        elif self.masks:
            d_h = (d_r @ self.U.t()) * self.masks[0]
        else:
            return d_r @ self.U.t() if base is None else torch.addmm(base, d_r, self.U.t())
        return d_h if base is None else base + d_h

    def weight_grad(self, h_prev, d_r):
        """dU from the states before each step (batch, T, u) and the gradients d_r (batch, T, width)."""
        u = self.u
        if self.per_gate:
            return torch.cat([(h_prev * m[:, None]).reshape(-1, u).t() @ d_r[..., g * u:(g + 1) * u].reshape(-1, u)
                              for g, m in enumerate(self.masks)], -1)
        h = h_prev * self.masks[0][:, None] if self.masks else h_prev
        return h.reshape(-1, u).t() @ d_r.reshape(-1, d_r.shape[-1])


class _Cell:
    """A step that keeps, per timestep, what its backward needs; the backward writes d(x·W + b) into one buffer."""
    saved = ()

    def __init__(self, spec: _Spec, U, b_rec, masks):
        self.act, self.ract = _ACTIVATIONS[spec.activation], _ACTIVATIONS.get(spec.recurrent_activation)
        self.act_name, self.ract_name = spec.activation, spec.recurrent_activation
        self.u, self.b_rec, self.keep = U.shape[0], b_rec, spec.needs_grad
        self.steps = {name: [] for name in self.saved}

    def store(self, **values):
        if self.keep:
            for name, value in values.items():
                self.steps[name].append(value)

    def begin_backward(self, d_x, h_prev, c_prev):
        """Before the first `back`: the buffer for d(x·W + b) and the states before each step."""
        self.d_x, self.h_prev, self.c_prev = d_x, h_prev, c_prev


class _SimpleRNN(_Cell):
    """h = act(x + h_tm1·U)."""
    saved = ("a", "h")

    def __init__(self, spec, U, b_rec, masks):
        super().__init__(spec, U, b_rec, masks)
        self.rec = _Rec(U, masks, 0, 1)

    def step(self, x, h_tm1, c_tm1):
        a = self.rec.forward(h_tm1, x)
        h = self.act(a)
        self.store(a=a, h=h)
        return h, None

    def back(self, t, d_h, d_c):
        s = self.steps
        d_a = _act_grad(self.act_name, d_h, s["a"][t], s["h"][t], self.d_x[:, t])
        return self.rec.back(d_a), None

    def finish(self):
        return self.d_x, self.rec.weight_grad(torch.stack(self.h_prev, 1), self.d_x), None


class _LSTM(_Cell):
    """Gates [i, f, c, o]: c = f⊙c_tm1 + i⊙act(·), h = o⊙act(c)."""
    saved = ("a", "gates", "g", "c", "act_c")

    def __init__(self, spec, U, b_rec, masks):
        super().__init__(spec, U, b_rec, masks)
        self.rec = _Rec(U, masks, 0, 4)

    def step(self, x, h_tm1, c_tm1):
        u = self.u
        a = self.rec.forward(h_tm1, x)
        gates = self.ract(a)
        i, f, o = gates[:, :u], gates[:, u:2 * u], gates[:, 3 * u:]
        g = self.act(a[:, 2 * u:3 * u])
        c = torch.addcmul(f * c_tm1, i, g)
        act_c = self.act(c)
        self.store(a=a, gates=gates, g=g, c=c, act_c=act_c)
        return o * act_c, c

    def back(self, t, d_h, d_c):
        u, s = self.u, self.steps
        a, gates, g, act_c = s["a"][t], s["gates"][t], s["g"][t], s["act_c"][t]
        i, f, o = gates[:, :u], gates[:, u:2 * u], gates[:, 3 * u:]
        d_c = d_c + _act_grad(self.act_name, d_h * o, s["c"][t], act_c)
        d_gates = torch.cat([d_c * g, d_c * self.c_prev[t], d_c * i, d_h * act_c], -1)
        d_a = _act_grad(self.ract_name, d_gates, a, gates, self.d_x[:, t])
        _act_grad(self.act_name, d_gates[:, 2 * u:3 * u], a[:, 2 * u:3 * u], g, d_a[:, 2 * u:3 * u])
        return self.rec.back(d_a), d_c * f

    def finish(self):
        return self.d_x, self.rec.weight_grad(torch.stack(self.h_prev, 1), self.d_x), None


class _GRU(_Cell):
    """Gates [z, r, h]: h = z⊙h_tm1 + (1 - z)⊙act(x_h + r⊙(h_tm1·U_h + b_h)), or (r⊙h_tm1)·U_h before."""
    saved = ("a_zr", "zr", "a_h", "hh", "carried")   # carried: h_tm1·U_h + b_h (reset after) or r⊙h_tm1

    def __init__(self, spec, U, b_rec, masks):
        super().__init__(spec, U, b_rec, masks)
        self.reset_after, u = spec.reset_after, self.u
        if self.reset_after:
            self.rec = _Rec(U, masks, 0, 3)
        else:
            self.rec, self.U_h = _Rec(U, masks, 0, 2), U[:, 2 * u:]
            self.m_h = masks[-1] if masks else None

    def step(self, x, h_tm1, c_tm1):
        u = self.u
        if self.reset_after:
            inner = self.rec.forward(h_tm1, self.b_rec)
            a_zr = x[:, :2 * u] + inner[:, :2 * u]
            zr = self.ract(a_zr)
            carried = inner[:, 2 * u:]
            a_h = torch.addcmul(x[:, 2 * u:], zr[:, u:], carried)
        else:
            a_zr = self.rec.forward(h_tm1, x[:, :2 * u])
            zr = self.ract(a_zr)
            carried = zr[:, u:] * (h_tm1 * self.m_h if self.m_h is not None else h_tm1)
            a_h = torch.addmm(x[:, 2 * u:], carried, self.U_h)
        hh = self.act(a_h)
        z = zr[:, :u]
        self.store(a_zr=a_zr, zr=zr, a_h=a_h, hh=hh, carried=carried)
        return torch.addcmul(z * h_tm1, 1 - z, hh), None

    def back(self, t, d_h, d_c):
        u, s, d_x = self.u, self.steps, self.d_x[:, t]
        zr, hh, carried, h_tm1 = s["zr"][t], s["hh"][t], s["carried"][t], self.h_prev[t]
        z, r = zr[:, :u], zr[:, u:]
        d_z = d_h * (h_tm1 - hh)
        d_a_h = _act_grad(self.act_name, d_h * (1 - z), s["a_h"][t], hh, d_x[:, 2 * u:])
        d_direct = d_h * z
        if self.reset_after:
            d_a_zr = _act_grad(self.ract_name, torch.cat([d_z, d_a_h * carried], -1), s["a_zr"][t], zr,
                               d_x[:, :2 * u])
            return self.rec.back(torch.cat([d_a_zr, d_a_h * r], -1), d_direct), None
        h_m = h_tm1 * self.m_h if self.m_h is not None else h_tm1
        d_carried = d_a_h @ self.U_h.t()
        d_a_zr = _act_grad(self.ract_name, torch.cat([d_z, d_carried * h_m], -1), s["a_zr"][t], zr, d_x[:, :2 * u])
        r_m = r * self.m_h if self.m_h is not None else r
        return self.rec.back(d_a_zr, torch.addcmul(d_direct, d_carried, r_m)), None

    def finish(self):
        u, d_x, h_prev = self.u, self.d_x, torch.stack(self.h_prev, 1)
        if self.reset_after:
            # d inner = [d a_z, d a_r, d a_h ⊙ r]: the first two blocks are those of d_x
            r = torch.stack(self.steps["zr"], 1)[..., u:]
            d_inner = torch.cat([d_x[..., :2 * u], d_x[..., 2 * u:] * r], -1)
            d_b = d_inner.sum((0, 1)) if self.b_rec is not None else None
            return d_x, self.rec.weight_grad(h_prev, d_inner), d_b
        carried = torch.stack(self.steps["carried"], 1)
        d_U_h = carried.reshape(-1, u).t() @ d_x.reshape(-1, 3 * u)[:, 2 * u:]
        return d_x, torch.cat([self.rec.weight_grad(h_prev, d_x[..., :2 * u]), d_U_h], -1), None


_CELLS = {"simple_rnn": _SimpleRNN, "gru": _GRU, "lstm": _LSTM}


class _Recurrence(torch.autograd.Function):
    """(outputs, h_T[, c_T]) of a cell over projected inputs X (batch, T, k·u), as `K.rnn` with `step`."""

    @staticmethod
    def forward(ctx, spec, X, U, b_rec, h0, c0, mask, *masks):
        cell = _CELLS[spec.cell](spec, U, b_rec, masks)
        h, c, output = h0, c0, None if mask is None else torch.zeros_like(h0)
        outputs, hs, cs = [], [h0], [c0]                 # hs, cs: the states before each step
        for t in range(X.shape[1]):
            h_new, c_new = cell.step(X[:, t], h, c)
            if mask is None:
                h, c, output = h_new, c_new, h_new
            else:
                keep = mask[:, t, None]
                output = torch.where(keep, h_new, output)
                h = torch.where(keep, h_new, h)
                c = None if c is None else torch.where(keep, c_new, c)
            outputs.append(output)
            if spec.needs_grad:
                hs.append(h)
                cs.append(c)
        if spec.needs_grad:   # saved through autograd, which frees them after the backward
            per_step = [t for name in cell.saved for t in cell.steps[name]]
            ctx.save_for_backward(*per_step, *hs[:-1], *(cs[:-1] if c0 is not None else ()))
            cell.steps, ctx.cell, ctx.mask, ctx.n_masks = None, cell, mask, len(masks)
            ctx.X_meta = dict(size=X.shape, dtype=X.dtype, device=X.device)
        out = torch.stack(outputs, 1)
        return (out, h.clone(), c.clone()) if c0 is not None else (out, h.clone())

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_h, d_c=None):
        cell, mask, T = ctx.cell, ctx.mask, d_out.shape[1]
        saved = ctx.saved_tensors
        cell.steps = {name: saved[n * T:(n + 1) * T] for n, name in enumerate(cell.saved)}
        states = saved[len(cell.saved) * T:]
        cell.begin_backward(torch.empty(**ctx.X_meta), states[:T], states[T:] or None)
        d_carry = torch.zeros_like(d_h) if mask is not None else None
        for t in range(T - 1, -1, -1):
            if mask is None:
                d_h, d_c = cell.back(t, d_out[:, t] + d_h, d_c)
                continue
            keep = mask[:, t, None]
            d_output = d_out[:, t] + d_carry
            d_carry = torch.where(keep, 0.0, d_output)
            d_c_new = None if d_c is None else torch.where(keep, d_c, 0.0)
            d_h_prev, d_c_prev = cell.back(t, torch.where(keep, d_output + d_h, 0.0), d_c_new)
            d_h = torch.where(keep, d_h_prev, d_h)
            d_c = None if d_c is None else torch.where(keep, d_c_prev, d_c)
        d_x, d_U, d_b = cell.finish()
        cell.steps = cell.d_x = cell.h_prev = cell.c_prev = None
        return (None, d_x, d_U, d_b, d_h, d_c, None) + (None,) * ctx.n_masks


def _native(cell: str, x, kernel, input_bias, recurrent_kernel, recurrent_bias, states, activation):
    """torch's own kernel (batch_first) on Keras-layout weights, converted by differentiable ops."""
    u = recurrent_kernel.shape[0]

    def torch_order(w):  # GRU [z, r, h] -> torch [r, z, n]
        return torch.cat([w[..., u:2 * u], w[..., :u], w[..., 2 * u:]], -1) if cell == "gru" else w
    weights = [torch_order(kernel).t(), torch_order(recurrent_kernel).t()]
    has_biases = input_bias is not None or recurrent_bias is not None
    if has_biases:
        zeros = kernel.new_zeros(kernel.shape[1])
        weights += [torch_order(b if b is not None else zeros) for b in (input_bias, recurrent_bias)]
    hx = [s.unsqueeze(0) for s in states]
    args = (has_biases, 1, 0.0, False, False, True)  # biases, layers, dropout, train, bidirectional, batch_first
    if cell == "lstm":
        outputs, h, c = torch._VF.lstm(x, hx, weights, *args)
        return outputs, [h[0], c[0]]
    kernel_fn = {"gru": torch._VF.gru, "simple_rnn": getattr(torch._VF, f"rnn_{activation}", None)}[cell]
    outputs, h = kernel_fn(x, hx[0], weights, *args)
    return outputs, [h[0]]


def _native_fits(cell, activation, recurrent_activation, reset_after, input_masks, recurrent_masks, mask,
                 inputs) -> bool:
    """Whether torch's kernel computes this configuration (cuDNN only where TF32 cannot round float32)."""
    if mask is not None or recurrent_masks or len(input_masks) > 1:
        return False
    if inputs.device.type == "cuda" and inputs.dtype == torch.float32 and torch.backends.cudnn.allow_tf32:
        return False
    if cell == "simple_rnn":
        return activation in ("tanh", "relu")
    return activation == "tanh" and recurrent_activation == "sigmoid" and (cell == "lstm" or reset_after)


def _checked(K, cell, x, states, masks, time_mask, tensors, activation, recurrent_activation):
    """The time mask as bool on x's device (None when it keeps every step), or False to decline.

    Raises for argument lists that no path could take; declines what the generic path should judge."""
    if cell not in _GATES:
        raise ValueError(f"fused_rnn: unknown cell {cell!r}; expected one of {', '.join(_GATES)}")
    k = _GATES[cell]
    for what, group in masks.items():
        if len(group) not in (0, 1, k):
            raise ValueError(f"fused_rnn: {what} must hold 0, 1 or {k} masks for {cell}, got {len(group)}")
    if len(states) != (2 if cell == "lstm" else 1):
        raise ValueError(f"fused_rnn: {cell} takes {2 if cell == 'lstm' else 1} initial state(s), got {len(states)}")
    if activation not in _ACTIVATIONS or (cell != "simple_rnn" and recurrent_activation not in _ACTIVATIONS):
        return False
    tensors = [t for t in tensors if t is not None]
    if x.dtype not in _FLOATS or any(t.dtype != x.dtype or t.device != x.device for t in tensors):
        return False
    if x.ndim != 3 or x.shape[1] == 0 or (time_mask is not None and tuple(time_mask.shape) != tuple(x.shape[:2])):
        return False                       # the generic path raises its own errors for these
    if time_mask is None:
        return None
    time_mask = K._t(time_mask)
    time_mask = time_mask if time_mask.dtype == torch.bool else time_mask != 0
    return None if bool(time_mask.all()) else time_mask.to(x.device)


def fused_rnn(K, cell: str, inputs, kernel, input_bias, recurrent_kernel, recurrent_bias, initial_states: List,
              input_masks: List, recurrent_masks: List, mask, activation: str, recurrent_activation: str,
              go_backwards: bool, reset_after: bool) -> Optional[tuple]:
    """(last_output, outputs, final_states) of a whole SimpleRNN/GRU/LSTM sequence, or None (declined).

    Inputs, weights and states are torch tensors in the Keras 2 layout; numbers equal `K.rnn` with the step.
    """
    input_masks, recurrent_masks = list(input_masks or []), list(recurrent_masks or [])
    states = list(initial_states or [])
    time_mask = _checked(K, cell, inputs, states, {"input_masks": input_masks, "recurrent_masks": recurrent_masks},
                         mask, [kernel, recurrent_kernel, input_bias, recurrent_bias, *states, *input_masks,
                                *recurrent_masks], activation, recurrent_activation)
    if time_mask is False:
        return None
    gru_reset_after = cell == "gru" and reset_after
    if _native_fits(cell, activation, recurrent_activation, gru_reset_after, input_masks, recurrent_masks, time_mask,
                    inputs):
        if recurrent_bias is not None and not gru_reset_after:   # LSTM, SimpleRNN: one bias is the same
            input_bias, recurrent_bias = recurrent_bias if input_bias is None else input_bias + recurrent_bias, None
        x = inputs * input_masks[0][:, None] if input_masks else inputs
        outputs, final = _native(cell, x.flip(1) if go_backwards else x, kernel, input_bias, recurrent_kernel,
                                 recurrent_bias, states, activation)
        return outputs[:, -1], outputs, final
    u = recurrent_kernel.shape[0]
    if len(input_masks) > 1:
        X = torch.cat([(inputs * m[:, None]) @ kernel[:, g * u:(g + 1) * u] for g, m in enumerate(input_masks)], -1)
    else:
        X = (inputs * input_masks[0][:, None] if input_masks else inputs) @ kernel
    X = X + input_bias if input_bias is not None else X
    return fused_recurrence(K, cell, X, states, recurrent_kernel, recurrent_bias, recurrent_masks, time_mask,
                            activation, recurrent_activation, go_backwards, reset_after)


def fused_recurrence(K, cell: str, projected, initial_states: List, recurrent_kernel, recurrent_bias,
                     recurrent_masks: List, mask, activation: str, recurrent_activation: str, go_backwards: bool,
                     reset_after: bool) -> Optional[tuple]:
    """As `fused_rnn`, over the projected inputs x·W + b (batch, T, k·u): the hand-written BPTT, or None."""
    recurrent_masks, states = list(recurrent_masks or []), list(initial_states or [])
    mask = _checked(K, cell, projected, states, {"recurrent_masks": recurrent_masks}, mask,
                    [recurrent_kernel, recurrent_bias, *states, *recurrent_masks], activation, recurrent_activation)
    if mask is False:
        return None
    gru_reset_after = cell == "gru" and reset_after
    if recurrent_bias is not None and not gru_reset_after:
        if cell == "gru":
            raise ValueError("fused_rnn: a recurrent bias needs GRU reset_after=True")
        projected, recurrent_bias = projected + recurrent_bias, None
    X = projected.flip(1) if go_backwards else projected
    mask = mask.flip(1) if mask is not None and go_backwards else mask
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (X, recurrent_kernel, recurrent_bias, *states))
    spec = _Spec(cell, activation, recurrent_activation, gru_reset_after, needs_grad)
    c0 = states[1] if cell == "lstm" else None
    result = _Recurrence.apply(spec, X, recurrent_kernel, recurrent_bias, states[0], c0, mask, *recurrent_masks)
    outputs, final = result[0], list(result[1:])
    return outputs[:, -1], outputs, final
