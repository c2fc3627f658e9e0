"""SimpleRNN, GRU and LSTM over a whole sequence for the NumPy and CuPy backends (`xp`).

One call is one tape primitive: the forward loop and the backward pass through time are written
by hand on preallocated buffers, and the numbers are those of the layers' `step` under `K.rnn`
to float rounding. Per-step caches are kept only while a gradient is taken.
"""
from typing import Optional

import numpy

from .tape import _on_tape, _plain, defvjp_all, primitive, tracing


# ---- activations: forward(xp, x, out) (out may be x); grad(xp, d, y, x, tmp): d *= act'(x), y = act(x)

def _sigmoid(xp, x, out):
    """1 / (1 + e^-x) as (1 + tanh(x / 2)) / 2: equal to rounding, never overflows, and faster."""
    xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    out += 1
    out *= 0.5


def _hard_sigmoid(xp, x, out):
    xp.multiply(x, 0.2, out=out)
    out += 0.5
    xp.clip(out, 0, 1, out=out)


def _d_hard_sigmoid(xp, d, y, x, tmp):
    """Slope 0.2 inside [0, 1], bounds included, as the VJP of K.clip."""
    xp.multiply(x, 0.2, out=tmp)
    tmp += 0.5
    d *= (tmp >= 0) & (tmp <= 1)
    d *= 0.2


def _scale_by(rule):
    """A grad that multiplies d by `rule(xp, y, tmp)`, the derivative written from the output y."""
    def grad(xp, d, y, x, tmp):
        d *= rule(xp, y, tmp)
    return grad


ACTIVATIONS = {
    "tanh": (lambda xp, x, out: xp.tanh(x, out=out),
             _scale_by(lambda xp, y, t: xp.subtract(1, xp.multiply(y, y, out=t), out=t))),
    "sigmoid": (_sigmoid, _scale_by(lambda xp, y, t: xp.multiply(xp.subtract(1, y, out=t), y, out=t))),
    "hard_sigmoid": (_hard_sigmoid, _d_hard_sigmoid),
    "relu": (lambda xp, x, out: xp.maximum(x, 0, out=out), _scale_by(lambda xp, y, t: y > 0)),
    "linear": (lambda xp, x, out: None if out is x else xp.copyto(out, x), lambda xp, d, y, x, t: None),
    "elu": (lambda xp, x, out: xp.copyto(out, xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0)))),
            _scale_by(lambda xp, y, t: xp.where(y > 0, 1, y + 1))),  # y > 0 exactly where x > 0
    "softsign": (lambda xp, x, out: xp.divide(x, 1 + xp.abs(x), out=out),
                 _scale_by(lambda xp, y, t: xp.square(xp.subtract(1, xp.abs(y, out=t), out=t), out=t))),
    "softplus": (lambda xp, x, out: xp.logaddexp(0, x, out=out),
                 _scale_by(lambda xp, y, t: xp.negative(xp.expm1(xp.negative(y, out=t), out=t), out=t))),
}
_NEEDS_INPUT = {"hard_sigmoid"}  # its derivative is not a function of its output


# ---- the cells: buffers, one step forward, one step back

class _Cell:
    """Buffers and one step of a cell; with `train` each step's values stay for `backward`.

    Gates are gate-major, (k, batch, u) per step, so that the elementwise work runs on contiguous
    blocks and h·U is one batched product; the states and d projected are (batch, time, ·) at the
    time a step reads, so the weight gradients are single products. Without `train`: one slot.
    """
    gates, state_count, gates_cached = 1, 1, True

    def __init__(self, xp, U, b, masks, activation, recurrent_activation, batch, steps, go_backwards, train):
        self.xp, self.U, self.b, self.m, self.train = xp, U, b, masks, train
        self.u, self.steps, self.go_backwards = U.shape[0], steps, go_backwards
        self.act, self.d_act = ACTIVATIONS[activation]
        self.ract, self.d_ract = ACTIVATIONS[recurrent_activation]
        u, k, dtype = self.u, self.gates, U.dtype
        self.n = steps if train else 1  # cache slots: step s uses slot s % n
        self.S = [xp.empty((batch, steps if train else 2, u), dtype) for _ in range(self.state_count)]
        self.final = [xp.empty((batch, u), dtype) for _ in range(self.state_count)]
        keep_inputs = train and bool({activation, recurrent_activation} & _NEEDS_INPUT)
        self.X = self.per_step(k, batch, u) if keep_inputs else None  # pre-activations
        self.G = self.per_step(k, batch, u) if self.gates_cached else xp.empty((1, k, batch, u), dtype)
        self.t1, self.hk = xp.empty((k, batch, u), dtype), xp.empty((k, batch, u), dtype)
        self.hm = xp.empty((batch, u), dtype)
        self.M = xp.stack(masks) if len(masks) > 1 else None  # one mask per gate
        self.Ugm = xp.ascontiguousarray(U.reshape(u, k, u).transpose(1, 0, 2))  # U_g = Ugm[g]

    def per_step(self, *shape):
        """A buffer with one slot per cached step (no closure over self: the cell must not be in a cycle)."""
        return self.xp.empty((self.n,) + shape, self.U.dtype)

    def by_gate(self, a):
        """A (batch, k·u) array seen as (k, batch, u)."""
        return a.reshape(a.shape[0], a.shape[1] // self.u, self.u).transpose(1, 0, 2)

    def at(self, s):
        """The time step s reads."""
        return self.steps - 1 - s if self.go_backwards else s

    def states(self, s):
        """The states before step s; s = steps: the final states."""
        if s == self.steps:
            return self.final
        return [S[:, self.at(s) if self.train else s % 2] for S in self.S]

    def pre(self, s, gate):
        """The pre-activations of `gate` (an index or a slice) at step s, kept only when needed."""
        return self.X[s, gate] if self.X is not None else None

    def keep_pre(self, s, gate, value):
        if self.X is not None:
            self.X[s, gate] = value

    def project(self, h, out, a, b):
        """out[g − a] = (h ⊙ m_g)·U_g for the gates a..b, as Recurrent.recurrent_projection."""
        xp, m = self.xp, self.m
        if self.M is not None:
            h = xp.multiply(h, self.M[a:b], out=self.hk[:b - a])
        elif m:
            h = xp.multiply(h, m[0], out=self.hm)
        xp.matmul(h, self.Ugm[a:b], out=out)

    def project_back(self, d, d_gates, out, a, b):
        """out = d h_tm1 from d(project's output), given as (batch, ·) and as (gates, batch, u)."""
        xp, u = self.xp, self.u
        if self.M is None:
            xp.matmul(d, self.UT[a * u:b * u], out=out)
            if self.m:
                out *= self.m[0]
            return
        part = xp.matmul(d_gates, self.UgmT[a:b], out=self.hk[:b - a])
        part *= self.M[a:b]
        part.sum(axis=0, out=out)

    def weight_grad(self, d, out, a, b):
        """out = Σ_t (h_t ⊙ m)ᵀ·d_t over all steps: one product (one per gate with per-gate masks)."""
        xp, m, u, H = self.xp, self.m, self.u, self.S[0]
        if self.M is None:
            h = H * m[0][:, None] if m else H
            xp.matmul(h.reshape(-1, u).T, d.reshape(-1, d.shape[-1]), out=out)
            return
        for g in range(a, b):
            c = slice((g - a) * u, (g - a + 1) * u)
            xp.matmul((H * m[g][:, None]).reshape(-1, u).T, d[..., c].reshape(-1, u), out=out[:, c])

    def prepare_backward(self):
        xp, U, u, k = self.xp, self.U, self.u, self.gates
        self.UT = xp.ascontiguousarray(U.T)
        self.UgmT = xp.ascontiguousarray(U.reshape(u, k, u).transpose(1, 2, 0))  # U_gᵀ = UgmT[g]
        batch = self.hm.shape[0]
        self.D = xp.empty((batch, self.steps, k * u), U.dtype)  # d projected
        self.dA, self.t2 = xp.empty_like(self.t1), xp.empty_like(self.t1)

    def emit(self, s):
        """Store dA as d projected of step s; returns it as (batch, k·u)."""
        D = self.D[:, self.at(s)]
        self.xp.copyto(self.by_gate(D), self.dA)
        return D

    def weight_grads(self, dU, db):
        self.weight_grad(self.D, dU, 0, self.gates)


class _SimpleRNN(_Cell):
    """h = act(x + h_tm1·U)."""
    gates_cached = False  # h, in the states, is all its backward needs

    def forward(self, s, x):
        (h_tm1,), (h,) = self.states(s), self.states(s + 1)
        a = self.G[0]
        self.project(h_tm1, a, 0, 1)
        a += x
        self.keep_pre(s, slice(None), a)
        self.act(self.xp, a[0], h)

    def backward(self, s, dh, dc, dh_prev, dc_prev):
        self.xp.copyto(self.dA[0], dh)
        self.d_act(self.xp, self.dA[0], self.states(s + 1)[0], self.pre(s, 0), self.t1[0])
        self.project_back(self.emit(s), self.dA, dh_prev, 0, 1)


class _LSTM(_Cell):
    """Gates i, f, c, o: c = f⊙c_tm1 + i⊙act(·), h = o⊙act(c)."""
    gates, state_count = 4, 2

    def __init__(self, *args):
        super().__init__(*args)
        self.A = self.per_step(*self.hm.shape)  # act(c)

    def forward(self, s, x):
        xp = self.xp
        (h_tm1, c_tm1), (h, c) = self.states(s), self.states(s + 1)
        G, act_c = self.G[s % self.n], self.A[s % self.n]
        self.project(h_tm1, G, 0, 4)
        G += self.by_gate(x)
        self.keep_pre(s, slice(None), G)
        self.ract(xp, G[:2], G[:2])
        self.act(xp, G[2], G[2])
        self.ract(xp, G[3], G[3])
        i, f, g, o = G  # g: the c gate, after its activation
        xp.multiply(f, c_tm1, out=c)
        c += xp.multiply(i, g, out=self.t1[0])
        self.act(xp, c, act_c)
        xp.multiply(o, act_c, out=h)

    def backward(self, s, dh, dc, dh_prev, dc_prev):
        xp, G, act_c, dA, tmp = self.xp, self.G[s], self.A[s], self.dA, self.t2
        i, f, g, o = G
        (_, c_tm1), (_, c) = self.states(s), self.states(s + 1)
        dc_t = self.t1[0]  # d c, through h and from the step after
        xp.multiply(dh, act_c, out=dA[3])
        xp.multiply(dh, o, out=dc_t)
        self.d_act(xp, dc_t, act_c, c, tmp[0])
        dc_t += dc
        xp.multiply(dc_t, g, out=dA[0])
        xp.multiply(dc_t, c_tm1, out=dA[1])
        xp.multiply(dc_t, i, out=dA[2])
        xp.multiply(dc_t, f, out=dc_prev)
        self.d_ract(xp, dA[:2], G[:2], self.pre(s, slice(0, 2)), tmp[:2])
        self.d_act(xp, dA[2], g, self.pre(s, 2), tmp[0])
        self.d_ract(xp, dA[3], o, self.pre(s, 3), tmp[0])
        self.project_back(self.emit(s), dA, dh_prev, 0, 4)


class _GRU(_Cell):
    """Gates z, r, h: hh = act(x_h + r⊙(h_tm1·U_h + b_h)) (reset after), h = z⊙h_tm1 + (1−z)⊙hh."""
    gates = 3

    def __init__(self, *args):
        super().__init__(*args)
        self.N = self.per_step(*self.hm.shape) if self.train else None  # h_tm1·U_h + b_h
        self.inner = self.xp.empty_like(self.t1)
        self.b_gates = self.b.reshape(3, 1, -1) if self.b is not None else None

    def gates_zr(self, s, x, G):
        """z and r, G[:2] holding the recurrent part of their pre-activations."""
        G[:2] += self.by_gate(x)[:2]
        self.keep_pre(s, slice(0, 2), G[:2])
        self.ract(self.xp, G[:2], G[:2])

    def gate_h(self, s, x, G, h_tm1, h):
        """hh, G[2] holding the recurrent part of its pre-activation; then h = z⊙h_tm1 + (1−z)⊙hh."""
        xp, (z, _, hh) = self.xp, G
        hh += self.by_gate(x)[2]
        self.keep_pre(s, 2, hh)
        self.act(xp, hh, hh)
        xp.multiply(z, h_tm1, out=h)
        h += xp.multiply(xp.subtract(1, z, out=self.t1[0]), hh, out=self.t1[0])

    def forward(self, s, x):
        xp, inner = self.xp, self.inner
        (h_tm1,), (h,) = self.states(s), self.states(s + 1)
        G = self.G[s % self.n]
        self.project(h_tm1, inner, 0, 3)
        if self.b is not None:
            inner += self.b_gates
        xp.copyto(G[:2], inner[:2])
        self.gates_zr(s, x, G)
        if self.N is not None:
            xp.copyto(self.N[s], inner[2])
        xp.multiply(G[1], inner[2], out=G[2])
        self.gate_h(s, x, G, h_tm1, h)

    def back_h(self, s, dh, G):
        """dz and d(hh's pre-activation) into dA; returns the part of dh_tm1 through z⊙h_tm1."""
        xp, dA, (z, _, hh), h_tm1 = self.xp, self.dA, G, self.states(s)[0]
        xp.multiply(dh, xp.subtract(h_tm1, hh, out=self.t1[0]), out=dA[0])
        xp.multiply(dh, xp.subtract(1, z, out=self.t1[0]), out=dA[2])
        self.d_act(xp, dA[2], hh, self.pre(s, 2), self.t2[0])
        return xp.multiply(dh, z, out=self.t1[1])

    def back_zr(self, s, G):
        self.d_ract(self.xp, self.dA[:2], G[:2], self.pre(s, slice(0, 2)), self.t2[:2])

    def prepare_backward(self):
        super().prepare_backward()
        self.DI, self.dI = self.xp.empty_like(self.D), self.xp.empty_like(self.t1)  # d(h_tm1·U + b)

    def backward(self, s, dh, dc, dh_prev, dc_prev):
        xp, G, dA, dI = self.xp, self.G[s], self.dA, self.dI
        via_z = self.back_h(s, dh, G)
        xp.multiply(dA[2], self.N[s], out=dA[1])
        self.back_zr(s, G)
        self.emit(s)
        xp.copyto(dI[:2], dA[:2])
        xp.multiply(dA[2], G[1], out=dI[2])
        DI = self.DI[:, self.at(s)]
        xp.copyto(self.by_gate(DI), dI)
        self.project_back(DI, dI, dh_prev, 0, 3)
        dh_prev += via_z

    def weight_grads(self, dU, db):
        if dU is not None:
            self.weight_grad(self.DI, dU, 0, 3)
        if db is not None:
            self.DI.reshape(-1, 3 * self.u).sum(axis=0, out=db)


class _GRUResetBefore(_GRU):
    """Gates z, r, h with the reset gate before the product: hh = act(x_h + (r⊙h_tm1⊙m_h)·U_h)."""

    def __init__(self, *args):
        _Cell.__init__(self, *args)
        self.RH = self.xp.empty_like(self.S[0]) if self.train else self.hm[:, None].copy()  # r⊙h_tm1⊙m_h

    def h_masked(self, h, out):
        """h ⊙ m_h (the h gate's recurrent mask) into `out`."""
        if self.m:
            return self.xp.multiply(h, self.m[-1], out=out)
        self.xp.copyto(out, h)
        return out

    def forward(self, s, x):
        xp = self.xp
        (h_tm1,), (h,) = self.states(s), self.states(s + 1)
        G, rh = self.G[s % self.n], self.RH[:, self.at(s) if self.train else 0]
        self.project(h_tm1, G[:2], 0, 2)
        self.gates_zr(s, x, G)
        self.h_masked(h_tm1, rh)
        rh *= G[1]
        xp.matmul(rh, self.Ugm[2], out=G[2])
        self.gate_h(s, x, G, h_tm1, h)

    def backward(self, s, dh, dc, dh_prev, dc_prev):
        xp, u, G, dA = self.xp, self.u, self.G[s], self.dA
        via_z = self.back_h(s, dh, G)
        d_rh = xp.matmul(dA[2], self.UgmT[2], out=self.t2[2])
        xp.multiply(d_rh, self.h_masked(self.states(s)[0], self.hm), out=dA[1])
        self.back_zr(s, G)
        self.project_back(self.emit(s)[:, :2 * u], dA[:2], dh_prev, 0, 2)
        d_rh *= G[1]
        if self.m:
            d_rh *= self.m[-1]
        dh_prev += d_rh
        dh_prev += via_z

    def weight_grads(self, dU, db):
        u = self.u
        self.weight_grad(self.D[..., :2 * u], dU[:, :2 * u], 0, 2)
        self.xp.matmul(self.RH.reshape(-1, u).T, self.D[..., 2 * u:].reshape(-1, u), out=dU[:, 2 * u:])


_CELLS = {"simple_rnn": _SimpleRNN, "lstm": _LSTM, "gru": _GRU}


# ---- the loops, shared by all cells

def _forward(xp, cell, projected, initial_states, keep):
    """Run `cell` over time; masked steps keep the states and repeat the previous output."""
    batch, steps = projected.shape[:2]
    outputs = xp.empty((batch, steps, cell.u), projected.dtype)
    for buffer, state in zip(cell.states(0), initial_states):
        xp.copyto(buffer, state)
    for s in range(steps):
        cell.forward(s, projected[:, cell.at(s)])
        new, out = cell.states(s + 1), outputs[:, s]
        xp.copyto(out, new[0])
        if keep is not None:
            dropped = ~keep[s]
            xp.copyto(out, outputs[:, s - 1] if s else 0, where=dropped)
            for old_state, new_state in zip(cell.states(s), new):
                xp.copyto(new_state, old_state, where=dropped)
    return (outputs[:, -1], outputs) + tuple(cell.final)


def _backward(xp, cell, g_last, g_outputs, g_states, keep):
    """Back through time: returns d initial states and leaves d projected in `cell.D`."""
    cell.prepare_backward()
    zeros = lambda: xp.zeros(cell.hm.shape, cell.hm.dtype)  # noqa: E731
    d = [zeros() if g is None else g.astype(cell.hm.dtype, copy=True) for g in g_states]  # d states
    d_prev, lstm = [zeros() for _ in d], cell.state_count == 2
    if keep is not None:
        d_in, carry = [zeros() for _ in d], zeros()  # carry: d of the output repeated by masked steps
    for s in range(cell.steps - 1, -1, -1):
        g = g_outputs[:, s] if g_outputs is not None else None
        if s == cell.steps - 1 and g_last is not None:
            g = g_last if g is None else g + g_last
        if keep is None:
            if g is not None:
                d[0] += g
            d_in = d
        else:  # kept rows send their gradient into the cell, masked rows on to the step before
            if g is not None:
                carry += g
            xp.add(d[0], carry, out=d_in[0])
            if lstm:
                xp.copyto(d_in[1], d[1])
            for grad in d_in:
                xp.copyto(grad, 0, where=~keep[s])
            for grad in d + [carry]:
                xp.copyto(grad, 0, where=keep[s])
        cell.backward(s, d_in[0], d_in[1] if lstm else None, d_prev[0], d_prev[1] if lstm else None)
        if keep is not None:
            for prev, held in zip(d_prev, d):
                prev += held
        d, d_prev = d_prev, d
    return d


# ---- the primitive and its VJP

def _run(K, projected, initial_states, recurrent_kernel, recurrent_bias, recurrent_masks, mask,
         cell, activation, recurrent_activation, go_backwards, reset_after, train=True):
    """(last_output, outputs, *final_states, the cell holding what the backward pass needs)."""
    xp = K.xp
    kind = _GRUResetBefore if cell == "gru" and not reset_after else _CELLS[cell]
    run = kind(xp, recurrent_kernel, recurrent_bias, list(recurrent_masks), activation, recurrent_activation,
               *projected.shape[:2], go_backwards, train)
    run.keep = None
    if mask is not None:
        keep = xp.asarray(mask).astype(bool).T[:, :, None]  # (time, batch, 1) in processing order
        keep = keep[::-1] if go_backwards else keep
        run.keep = None if bool(keep.all()) else xp.ascontiguousarray(keep)
    return _forward(xp, run, projected, initial_states, run.keep) + (run,)


_fused = primitive(_run)


def _fused_vjp(K, g, ans, wanted, projected, initial_states, recurrent_kernel, recurrent_bias, *_, **__):
    """All the gradients from one pass back through time; dU and d bias only when wanted."""
    xp, run, count = K.xp, ans[-1], len(initial_states)
    d_states = _backward(xp, run, g[0], g[1], g[2:2 + count], run.keep)
    grads = {0: run.D, **{(1, j): d for j, d in enumerate(d_states)}}
    if 2 in wanted:
        grads[2] = xp.empty(recurrent_kernel.shape, recurrent_kernel.dtype)
    if 3 in wanted and recurrent_bias is not None:
        grads[3] = xp.empty(recurrent_bias.shape, recurrent_bias.dtype)
    run.weight_grads(grads.get(2), grads.get(3))
    return grads


defvjp_all(_fused, _fused_vjp)


def fused_recurrence(K, cell: str, projected, initial_states: list, recurrent_kernel, recurrent_bias,
                     recurrent_masks: list, mask, activation: str, recurrent_activation: str,
                     go_backwards: bool, reset_after: bool) -> Optional[tuple]:
    """-> (last_output, outputs, final_states) as `K.rnn` with the cell's step, or None when declined."""
    initial_states, recurrent_masks = list(initial_states), list(recurrent_masks or [])
    if not _supported(K, cell, projected, initial_states, recurrent_kernel, recurrent_bias, recurrent_masks,
                      mask, activation, recurrent_activation, reset_after):
        return None
    args = (projected, initial_states, recurrent_kernel, recurrent_bias, recurrent_masks, mask)
    options = dict(cell=cell, activation=activation, recurrent_activation=recurrent_activation,
                   go_backwards=bool(go_backwards), reset_after=bool(reset_after))
    if tracing() and any(_on_tape(a) is not None for a in [projected, *initial_states, recurrent_kernel,
                                                            recurrent_bias]):
        ans = _fused(K, *args, **options)
    else:
        plain = [[_plain(e) for e in a] if isinstance(a, list) else _plain(a) for a in args]
        ans = _run(K, *plain, **options, train=False)
    return ans[0], ans[1], list(ans[2:-1])


def _supported(K, cell, projected, initial_states, recurrent_kernel, recurrent_bias, recurrent_masks, mask,
               activation, recurrent_activation, reset_after) -> bool:
    """Whether the kernels compute exactly this configuration; else the generic loop is the one to run."""
    if cell not in _CELLS or activation not in ACTIVATIONS or recurrent_activation not in ACTIVATIONS:
        return False
    if tracing() and any(_on_tape(m) is not None for m in recurrent_masks + [mask]):
        return False  # gradients with respect to the masks: the generic path's business
    floats = [projected, recurrent_kernel, *initial_states, *recurrent_masks]
    floats += [] if recurrent_bias is None else [recurrent_bias]
    if not all(isinstance(_plain(a), K.xp.ndarray) for a in floats):
        return False
    if len({_plain(a).dtype for a in floats}) != 1 or _plain(projected).dtype.kind != "f":
        return False  # mixed dtypes promote in the generic path
    shape = lambda a: tuple(_plain(a).shape)  # noqa: E731
    kind, units = _CELLS[cell], shape(recurrent_kernel)[0] if len(shape(recurrent_kernel)) == 2 else -1
    width = kind.gates * units
    if len(shape(projected)) != 3 or shape(recurrent_kernel) != (units, width) or shape(projected)[2] != width:
        return False
    batch, steps = shape(projected)[:2]
    return (steps > 0 and len(initial_states) == kind.state_count
            and all(shape(s) == (batch, units) for s in initial_states)
            and len(recurrent_masks) in (0, 1, kind.gates)
            and all(shape(m) == (batch, units) for m in recurrent_masks)
            and (recurrent_bias is None or (cell == "gru" and reset_after and shape(recurrent_bias) == (width,)))
            and (mask is None or tuple(numpy.shape(_plain(mask))) == (batch, steps)))
