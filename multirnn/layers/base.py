"""The Layer base: deferred build, weights in Keras 2 order, regularizers, constraints, config.

A layer remembers the backend it was created under and runs its calls under it.
"""
import collections
import contextlib
import contextvars
import inspect
import itertools
import re
import weakref

import numpy as np

from multirnn import backend as K
from multirnn import activations, constraints, initializers, regularizers
from multirnn.layers import topology
from multirnn.layers.symbolic import call_symbolic

_name_counts = collections.Counter()
_outer_call = contextvars.ContextVar("multirnn_outer_call", default=None)  # id of the outermost layer call
_call_ids = itertools.count()


@contextlib.contextmanager
def outermost_call():
    """Mark a call as one forward pass unless it is inside one already (activity losses accumulate in it)."""
    if _outer_call.get() is not None:
        yield
        return
    token = _outer_call.set(next(_call_ids))
    try:
        yield
    finally:
        _outer_call.reset(token)

def snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix: str) -> str:
    count = _name_counts[prefix]
    _name_counts[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def shape_of(x):
    """The shape of a tensor, a symbolic tensor, or a list of them."""
    if isinstance(x, (list, tuple)):
        return [shape_of(t) for t in x]
    if hasattr(x, "symbolic_shape"):
        return x.symbolic_shape
    return tuple(K.int_shape(x))


class Layer:
    """Base of every layer: `build(input_shape)` once, then `call(inputs, ...)`."""

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None,
                 batch_input_shape=None, input_dim=None, input_length=None, batch_size=None,
                 weights=None, activity_regularizer=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {', '.join(map(repr, kwargs))}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = dtype
        self.backend_name = K.current_name()
        self.built = False
        self.supports_masking = False
        self.stateful = getattr(self, "stateful", False)
        self._trainable_weights, self._non_trainable_weights = [], []
        self._weight_names = {}
        self._regularized, self._constraints = [], {}
        self._activity_losses, self._activity_call = [], None
        self.activity_regularizer = regularizers.get(activity_regularizer, f"{self.name}: activity_regularizer")
        self._initial_weights = weights
        self.inbound_nodes = []
        if input_shape is None and (input_dim is not None or input_length is not None):
            input_shape = (input_length, input_dim) if input_length is not None or self._wants_length() else (input_dim,)
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size,) + tuple(input_shape)
        self.batch_input_shape = tuple(batch_input_shape) if batch_input_shape is not None else None
        self._seed = None
        self._seed_draws = 0

    def _wants_length(self) -> bool:
        return False

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"

    # ---- weights
    @K.on_own_backend
    def add_weight(self, name, shape, initializer="glorot_uniform", regularizer=None, constraint=None,
                   trainable=True, dtype=None):
        """Create a weight from a host-drawn initial value, on this layer's backend."""
        init = initializers.get(initializer, f"{type(self).__name__} {self.name!r}: {name} initializer")
        value = np.asarray(init(tuple(shape), seed=self.next_seed()), dtype=np.float64)
        var = K.variable(value, dtype=dtype or self.dtype, name=f"{self.name}/{name}")
        (self._trainable_weights if trainable else self._non_trainable_weights).append(var)
        self._weight_names[id(var)] = name
        if regularizer is not None:
            self._regularized.append((var, regularizer))
        if constraint is not None:
            self._constraints[id(var)] = (var, constraint)
        return var

    def next_seed(self):
        """A seed for the next draw of this layer: derived from `seed=` if given, else None (the stream).
        Random draws take the method itself as their seed and call it when they draw."""
        if self._seed is None:
            return None
        self._seed_draws += 1
        return int(np.random.SeedSequence([self._seed, self._seed_draws]).generate_state(1, np.uint64)[0] >> 1)

    @property
    def trainable_weights(self) -> list:
        return list(self._trainable_weights) if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        if self.trainable:
            return list(self._non_trainable_weights)
        return list(self._trainable_weights) + list(self._non_trainable_weights)

    @property
    def weights(self) -> list:
        return list(self._trainable_weights) + list(self._non_trainable_weights)

    @property
    def constraints(self) -> list:
        """(variable, constraint) pairs for the optimizer to apply after each update."""
        return list(self._constraints.values())

    def weight_name(self, var) -> str:
        return self._weight_names.get(id(var), "weight")

    @K.on_own_backend
    def get_weights(self) -> list:
        return [np.array(K.to_numpy(w)) for w in self.weights]

    @K.on_own_backend
    def set_weights(self, weights) -> None:
        """Set weights from NumPy arrays in `get_weights` order; shapes are checked first."""
        params = self.weights
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"{type(self).__name__} {self.name!r}: set_weights expects {len(params)} arrays "
                             f"({', '.join(self.weight_name(p) for p in params)}), got {len(weights)}")
        arrays = [np.asarray(K.to_numpy(w) if K.is_tensor(w) else w) for w in weights]
        for p, a in zip(params, arrays):
            if tuple(K.int_shape(p)) != a.shape:
                raise ValueError(f"{type(self).__name__} {self.name!r}: weight {self.weight_name(p)!r} "
                                 f"expects shape {tuple(K.int_shape(p))}, got {a.shape}")
        for p, a in zip(params, arrays):
            K.set_value(p, a)

    def count_params(self) -> int:
        return int(sum(np.prod(K.int_shape(w)) for w in self.weights))

    @property
    @K.on_own_backend
    def losses(self) -> list:
        """Weight penalties now, plus the activity penalties (per sample) of every call made during the
        last outermost call: a layer shared inside a model counts each of its calls, as in tf.keras."""
        return [reg(w) for w, reg in self._regularized] + list(self._activity_losses)

    # ---- building and calling
    def build(self, input_shape) -> None:
        self.built = True

    @K.on_own_backend
    def _build_once(self, input_shape):
        if self.built:
            return
        self.build(input_shape)
        self.built = True
        if self._initial_weights is not None:
            weights, self._initial_weights = self._initial_weights, None
            self.set_weights(weights)

    def check_input_shape(self, input_shape) -> None:
        """Raise a clear error if `input_shape` does not fit this (built) layer."""

    def call(self, inputs, **kwargs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    @K.on_own_backend
    def mask_for(self, inputs, mask=None):
        """`compute_mask` for concrete inputs, under this layer's backend."""
        return self.compute_mask(inputs, mask)

    @K.on_own_backend
    def __call__(self, inputs, *args, **kwargs):
        if _is_symbolic(inputs):
            return call_symbolic(self, inputs, args, kwargs)
        input_shape = shape_of(inputs)
        self._build_once(input_shape)
        self.check_input_shape(input_shape)
        kwargs = {k: v for k, v in kwargs.items() if k in self._call_args() or self._call_takes_kwargs()}
        with outermost_call():
            outputs = self.call(inputs, *args, **kwargs)
            if self.activity_regularizer is not None:
                self._add_activity_losses(outputs)
        return outputs

    def _add_activity_losses(self, outputs):
        """Penalties of this call, added to those of earlier calls inside the same outermost call."""
        if self._activity_call != _outer_call.get():
            self._activity_call, self._activity_losses = _outer_call.get(), []
        self._activity_losses += [self.activity_regularizer(out) / float(K.int_shape(out)[0])
                                  for out in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]

    # ---- the logits of a sigmoid/softmax output, for the crossentropies (tf_keras's `_keras_logits`)
    def activate(self, activation, x):
        """`activation(x)`; for the builtin sigmoid or softmax, `x` is kept as the logits of the output while
        the output lives (a weak reference to it, so that a dropped output frees its logits and their graph)."""
        out = activation(x)
        if activation is activations.sigmoid or activation is activations.softmax:
            if self.__dict__.get("_logits_call") != _outer_call.get():
                self._logits_call, self._logits = _outer_call.get(), []
            try:
                self._logits.append((weakref.ref(out, self._forget_logits), x))
            except TypeError:  # a tensor type without weak references: no logits
                pass
        return out

    def _forget_logits(self, _dead=None) -> None:
        self._logits = [(ref, logits) for ref, logits in self.__dict__.get("_logits", []) if ref() is not None]

    def take_logits(self, output):
        """The logits this layer kept for `output` (the very tensor of one of its calls), then forgotten; else None."""
        kept = self.__dict__.get("_logits") or []
        for k, (ref, logits) in enumerate(kept):
            if ref() is output:
                del kept[k]
                return logits
        return None

    def _call_args(self):
        return inspect.signature(self.call).parameters

    def _call_takes_kwargs(self):
        return any(p.kind is p.VAR_KEYWORD for p in self._call_args().values())

    def reset_states(self, states=None) -> None:
        pass

    # ---- config
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = self.batch_input_shape
        if self.dtype is not None:
            config["dtype"] = self.dtype
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    @property
    def input_shape(self):
        if self.inbound_nodes:
            shapes = [t.symbolic_shape for t in self.inbound_nodes[0].inputs]
            return shapes[0] if len(shapes) == 1 else shapes
        if self.batch_input_shape is not None:
            return self.batch_input_shape
        raise AttributeError(f"{type(self).__name__} {self.name!r} has no defined input shape yet")

    @property
    def output_shape(self):
        return self.compute_output_shape(self.input_shape)

    # ---- the symbolic calls of this layer (nodes)
    def get_output_at(self, node_index: int):
        """The output tensor(s) of the layer's `node_index`-th call."""
        return topology.get_output_at(self, node_index)

    def get_input_at(self, node_index: int):
        """The input tensor(s) of the layer's `node_index`-th call."""
        return topology.get_input_at(self, node_index)

    def get_output_shape_at(self, node_index: int):
        return topology.get_output_shape_at(self, node_index)

    def get_input_shape_at(self, node_index: int):
        return topology.get_input_shape_at(self, node_index)

    @property
    def output(self):
        """The output tensor of a layer called once."""
        fixed = self.__dict__.get("_fixed_output")
        return fixed if fixed is not None else self.get_output_at(topology.single_node(self, "output"))

    @output.setter
    def output(self, value):
        self.__dict__["_fixed_output"] = value

    @property
    def input(self):
        """The input tensor of a layer called once."""
        fixed = self.__dict__.get("_fixed_input")
        return fixed if fixed is not None else self.get_input_at(topology.single_node(self, "input"))

    @input.setter
    def input(self, value):
        self.__dict__["_fixed_input"] = value


def _is_symbolic(x) -> bool:
    if isinstance(x, (list, tuple)):
        return any(_is_symbolic(t) for t in x)
    return hasattr(x, "symbolic_shape")


def get_initializer(value, layer, arg):
    return initializers.get(value, f"{type(layer).__name__} {layer.name!r}: {arg}")


def get_regularizer(value, layer, arg):
    return regularizers.get(value, f"{type(layer).__name__} {layer.name!r}: {arg}")


def get_constraint(value, layer, arg):
    return constraints.get(value, f"{type(layer).__name__} {layer.name!r}: {arg}")


__all__ = ["Layer", "shape_of"]
