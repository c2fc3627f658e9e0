"""A small reverse-mode tape for the array backends (NumPy, CuPy).

A primitive is a backend method wrapped by `primitive`; its vector-Jacobian products are
registered right beside it with `defvjp`. When no gradient is being taken (no `trace()` is
open) a primitive is a plain call on arrays: inference pays no tape cost. Inside `trace()`,
an input that is a `Traced` makes the output a `Traced` that remembers how to send its
gradient back. Any function with a forward and a VJP can be a primitive, a whole fused
recurrent kernel included: a primitive may return a tuple (several outputs), and one rule
registered with `defvjp_all` may give the gradients of all its arguments in one run.
"""
import contextlib
import contextvars
import functools

from .indexed import IndexedRows

_depth = contextvars.ContextVar("multirnn_tape_depth", default=0)


class Variable:
    """A mutable array holder (K.variable); `traced` is set while a gradient is taken."""
    __slots__ = ("value", "name", "traced", "backend")
    __array_ufunc__ = None

    def __init__(self, value, name=None, backend=None):
        self.value, self.name, self.traced, self.backend = value, name, None, backend

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    shape = property(lambda self: tuple(self.value.shape))
    dtype = property(lambda self: self.value.dtype)
    ndim = property(lambda self: self.value.ndim)

    def __repr__(self):
        return f"<multirnn {self.backend.name} variable {self.name or ''} shape={self.shape} dtype={self.dtype}>"


class Traced:
    """An array on the tape: its value and, for each input it came from, the VJP to it."""
    __slots__ = ("value", "parents", "backend", "__weakref__")
    __array_ufunc__ = None

    def __init__(self, value, parents, backend):
        self.value, self.parents, self.backend = value, parents, backend

    shape = property(lambda self: tuple(self.value.shape))
    dtype = property(lambda self: self.value.dtype)
    ndim = property(lambda self: self.value.ndim)

    def __repr__(self):
        return f"<traced {self.value!r}>"


def _operators(cls):
    """Give Variable and Traced the arithmetic operators, each routed to a backend primitive."""
    def binary(name, swap=False):
        def op(self, other):
            fn = getattr(self.backend, name)
            return fn(other, self) if swap else fn(self, other)
        return op
    for dunder, name in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
                         ("truediv", "divide"), ("pow", "pow"), ("matmul", "matmul")):
        setattr(cls, f"__{dunder}__", binary(name))
        setattr(cls, f"__r{dunder}__", binary(name, swap=True))
    for dunder, name in (("lt", "less"), ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal")):
        setattr(cls, f"__{dunder}__", binary(name))
    cls.__neg__ = lambda self: self.backend.negative(self)
    cls.__abs__ = lambda self: self.backend.abs(self)
    cls.__getitem__ = lambda self, index: self.backend.getitem(self, index)
    cls.__len__ = lambda self: self.shape[0]
    cls.T = property(lambda self: self.backend.transpose(self))
    return cls


_operators(Variable)
_operators(Traced)


def tracing() -> bool:
    return _depth.get() > 0


@contextlib.contextmanager
def trace(variables):
    """Put `variables` on the tape as leaves for the duration of the block."""
    leaves = []
    token = _depth.set(_depth.get() + 1)
    try:
        for var in variables:
            if var.traced is not None:
                raise ValueError("value_and_grad: a variable appears twice or gradients are nested")
            var.traced = Traced(var.value, (), var.backend)
            leaves.append(var.traced)
        yield leaves
    finally:
        for var in variables:
            var.traced = None
        _depth.reset(token)


def _plain(a):
    return a.value if isinstance(a, (Variable, Traced)) else a


def _on_tape(a):
    """The tape node for an argument, or None when it carries no gradient."""
    if isinstance(a, Traced):
        return a
    if isinstance(a, Variable):
        return a.traced
    return None


def primitive(fn):
    """Wrap a backend method `fn(self, *arrays, **options)` so it records itself on the tape.

    A list or tuple argument (concatenate, stack) is looked into one level deep. A tuple
    returned by `fn` is several outputs, each its own node; the VJPs then get `g` as the list
    of the outputs' gradients, None where none flows.
    """
    @functools.wraps(fn)
    def wrapped(self, *args, **kwargs):
        if _depth.get() == 0:
            return fn(self, *[type(a)(_plain(e) for e in a) if isinstance(a, (list, tuple)) else _plain(a)
                              for a in args], **kwargs)
        nodes, values = [], []
        for i, a in enumerate(args):
            if isinstance(a, (list, tuple)):
                values.append(type(a)(_plain(e) for e in a))
                nodes.extend(((i, j), _on_tape(e)) for j, e in enumerate(a) if _on_tape(e) is not None)
            else:
                values.append(_plain(a))
                if _on_tape(a) is not None:
                    nodes.append((i, _on_tape(a)))
        ans = fn(self, *values, **kwargs)
        if not nodes:
            return ans
        if wrapped.vjp_all is not None:
            joint = _JointVjp(wrapped.vjp_all, self, ans, values, kwargs, {where for where, _ in nodes})
            parents = [(node, functools.partial(joint, where)) for where, node in nodes]
        else:
            parents = _parents(wrapped.vjps, fn.__name__, self, nodes, ans, values, kwargs)
        if not parents:
            return ans
        if isinstance(ans, tuple):
            whole = Traced(ans, tuple(parents), self)
            return tuple(Traced(a, ((whole, functools.partial(_slot, j)),), self) for j, a in enumerate(ans))
        return Traced(ans, tuple(parents), self)
    wrapped.vjps, wrapped.vjp_all = {}, None
    return wrapped


def _parents(vjps, name, backend, nodes, ans, values, kwargs):
    """(node, vjp) for each argument on the tape, from the rules registered with `defvjp`."""
    parents = []
    for where, node in nodes:
        i = where[0] if isinstance(where, tuple) else where
        if i not in vjps:
            raise NotImplementedError(f"{name}: no gradient with respect to argument {i}")
        if vjps[i] is None:
            continue
        if isinstance(where, tuple):
            parents.append((node, functools.partial(_list_vjp, vjps[i], backend, where[1], ans, values, kwargs)))
        else:
            parents.append((node, functools.partial(_vjp, vjps[i], backend, ans, values, kwargs)))
    return parents


def _vjp(rule, backend, ans, values, kwargs, g):
    return rule(backend, g, ans, *values, **kwargs)


def _list_vjp(rule, backend, j, ans, values, kwargs, g):
    return rule(backend, g, ans, j, *values, **kwargs)


def _slot(j, g):
    return _Slots({j: g})


class _Slots(dict):
    """The gradient of a primitive with several outputs: output index -> gradient (each output sends its own)."""


class _JointVjp:
    """One run of a `defvjp_all` rule for one call, its gradients handed out argument by argument."""
    __slots__ = ("rule", "backend", "ans", "values", "kwargs", "wanted", "grads")

    def __init__(self, rule, backend, ans, values, kwargs, wanted):
        self.rule, self.backend, self.ans, self.values, self.kwargs = rule, backend, ans, values, kwargs
        self.wanted, self.grads = frozenset(wanted), None

    def __call__(self, where, g):
        if self.grads is None:
            grads = self.rule(self.backend, g, self.ans, self.wanted, *self.values, **self.kwargs)
            self.grads = {w: grads.get(w) for w in self.wanted}
        grad = self.grads.pop(where)
        if not self.grads:
            self.grads = None  # all handed out: a later backward pass runs the rule afresh
        return grad


def defvjp_all(prim, rule):
    """Register one VJP for all arguments: `rule(K, g, ans, wanted, *args, **kwargs) -> {where: grad}`.

    `wanted` holds the arguments on the tape, each as its index, or (index, element) inside a
    list argument; the rule runs once per backward pass and may skip the others.
    """
    prim.vjp_all = rule


def defvjp(prim, *rules):
    """Register the VJP of each argument: `rule(K, g, ans, *args, **kwargs) -> grad of that arg`.

    `K` is the backend that ran the primitive (NumPy or CuPy). For a list argument the rule
    also gets the element index: `rule(K, g, ans, j, *args, **kwargs)`.
    `None` marks an argument that carries no gradient.
    """
    for i, rule in enumerate(rules):
        prim.vjps[i] = rule


class IndexedGrad:
    """A gradient that is zero except at `index`: summed into one buffer, never made dense per use."""
    __slots__ = ("shape", "dtype", "index", "value")

    def __init__(self, shape, dtype, index, value):
        self.shape, self.dtype, self.index, self.value = shape, dtype, index, value


def backward(xp, output: Traced, seed, keep_rows: bool = False):
    """Gradients of `output` (weighted by `seed`) for every node on its tape: {id(node): grad}.

    `keep_rows`: a leaf reached only through gathers keeps its IndexedRows gradient."""
    order, seen, stack = [], set(), [(output, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((parent, False) for parent, _ in node.parents if id(parent) not in seen)
    grads, owned = {id(output): seed}, set()
    for node in reversed(order):
        g = grads.get(id(node))
        if g is None or not node.parents:
            continue
        if isinstance(g, (IndexedGrad, IndexedRows)):
            g = _dense(xp, g)
        elif isinstance(g, _Slots):
            g = [_dense(xp, s) if isinstance(s, IndexedGrad) else s for s in map(g.get, range(len(node.value)))]
        for parent, vjp in node.parents:
            _accumulate(xp, grads, owned, id(parent), vjp(g))
        if node is not output:
            del grads[id(node)]
    sparse = (IndexedGrad,) if keep_rows else (IndexedGrad, IndexedRows)
    return {k: (_dense(xp, v) if isinstance(v, sparse) else v) for k, v in grads.items()}


def _dense(xp, g):
    if isinstance(g, IndexedRows):
        out = xp.zeros(g.shape, g.values.dtype)
        xp.add.at(out, g.indices, g.values)
        return out
    out = xp.zeros(g.shape, g.dtype)
    out[g.index] = g.value
    return out


def _accumulate(xp, grads, owned, key, g):
    if g is None:
        return
    if isinstance(g, _Slots):
        grads.setdefault(key, _Slots()).update(g)
        return
    old = grads.get(key)
    if old is None:
        grads[key] = g
        return
    if isinstance(old, IndexedRows) and isinstance(g, IndexedRows):  # rows of two gathers: joined, as TF
        grads[key] = IndexedRows(xp.concatenate([old.indices, g.indices]),
                                 xp.concatenate([old.values, g.values]), old.shape)
        return
    if isinstance(old, (IndexedGrad, IndexedRows)):
        old = _dense(xp, old)
        owned.add(key)
    elif key not in owned:
        old = old.copy()
        owned.add(key)
    if isinstance(g, IndexedGrad):
        old[g.index] += g.value
    elif isinstance(g, IndexedRows):
        xp.add.at(old, g.indices, g.values)
    else:
        old += g
    grads[key] = old
