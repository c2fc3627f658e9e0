"""What every backend shares: composites written on its primitives, seeded random draws, `rnn`.

A backend subclasses `Backend` and supplies the primitives (tensor creation and variables,
elementwise math, reductions, shape ops, `sigmoid/tanh/relu/elu/softplus/softmax`,
`value_and_grad`). Everything here is written once and is therefore identical everywhere.
"""
import numpy as np

from multirnn.errors import InvalidArgumentError, ShapeError

from . import checks, config, guards, host_random
from .indexed import IndexedRows


class Backend:
    """The K contract; every method named in `guards.CHECKS` validates its arguments before it runs."""
    name = "base"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        guards.install(cls)

    # ---- configuration (global, shared by all backends)
    floatx = staticmethod(config.floatx)
    set_floatx = staticmethod(config.set_floatx)
    epsilon = staticmethod(config.epsilon)
    set_epsilon = staticmethod(config.set_epsilon)
    learning_phase = staticmethod(config.learning_phase)
    set_learning_phase = staticmethod(config.set_learning_phase)

    def backend(self) -> str:
        return self.name

    def __repr__(self):
        return f"<multirnn backend {self.name}>"

    # ---- tensors
    def get_value(self, x):
        return self.to_numpy(x)

    def batch_get_value(self, xs):
        return [self.to_numpy(x) for x in xs]

    def batch_set_value(self, pairs):
        for var, value in pairs:
            self.set_value(var, value)

    def count_params(self, x) -> int:
        return int(np.prod(self.int_shape(x)))

    def host_check(self, x, check) -> None:
        """Run `check(values of x as a host NumPy array)`, which raises when they are wrong. A compiled
        step runs its checks on the host after each call, before anything it computed is used."""
        check(np.asarray(self.to_numpy(x)))

    # ---- indexed (row-sparse) gradients: `value_and_grad(..., indexed=True)` gives them for gathered variables
    def is_indexed(self, g) -> bool:
        """Whether `g` is an IndexedRows gradient (rows of a variable) rather than a dense tensor."""
        return isinstance(g, IndexedRows)

    def indexed(self, indices, values, shape) -> IndexedRows:
        """Rows `values` at `indices` (1-D, may repeat) of a tensor of `shape`."""
        return IndexedRows(indices, values, shape)

    def indexed_like(self, g, values):
        """`values` in place of the rows of indexed `g` (a dense `g`: `values` itself)."""
        return IndexedRows(g.indices, values, g.shape) if isinstance(g, IndexedRows) else values

    def indexed_raw(self, g) -> tuple:
        """(indices, values) of an indexed gradient as they came, repeated rows not summed."""
        return g.indices, g.values

    def indexed_parts(self, g) -> tuple:
        """(unique indices, the rows of each summed), as tf_keras deduplicates before a sparse update."""
        return self.sum_repeated_rows(g.indices, g.values)

    def densify(self, g):
        """A dense tensor of an indexed gradient (dense ones pass through)."""
        if not isinstance(g, IndexedRows):
            return g
        return self.segment_sum(g.values, g.indices, g.shape[0])

    # ---- argument checks the front end shares (losses, metrics)
    def check_broadcast(self, op, *tensors, names=None) -> None:
        """A ShapeError naming `op` (and `names`, one per tensor) unless the shapes broadcast together."""
        checks.broadcast(op, *tensors, names=names)

    def check_sparse_labels(self, op, labels, output) -> None:
        """A ShapeError naming `op` unless `labels` have the shape (...) or (..., 1) of `output` (..., classes)."""
        checks.sparse_labels(op, labels, output)

    # ---- random: drawn on the host so every backend gets the same bits
    def host_draw(self, kind: str, shape, params: tuple, seed, dtype):
        """A tensor of one host draw (`host_random.draw`); compiled steps feed these in as arguments."""
        return self.constant(host_random.draw(kind, shape, params, seed), dtype)

    def random_uniform(self, shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        return self.host_draw("uniform", shape, (minval, maxval), seed, dtype)

    def random_normal(self, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return self.host_draw("normal", shape, (mean, stddev), seed, dtype)

    def truncated_normal(self, shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return self.host_draw("truncated_normal", shape, (mean, stddev), seed, dtype)

    def random_binomial(self, shape, p=0.0, dtype=None, seed=None):
        return self.host_draw("binomial", shape, (p,), seed, dtype)

    def dropout_mask(self, shape, level, dtype=None, seed=None):
        """Inverted-dropout mask: 1/(1-level) where kept, 0 where dropped."""
        if not 0.0 <= level < 1.0:
            raise InvalidArgumentError(f"dropout: level must be in [0, 1), got {level!r}")
        return self.host_draw("dropout", shape, (level,), seed, dtype)

    def dropout(self, x, level, noise_shape=None, seed=None):
        """Drop entries of `x` with probability `level`, scaling the rest by 1/(1-level)."""
        shape = self.int_shape(x)
        if noise_shape is not None:
            if len(noise_shape) != len(shape):
                raise ShapeError(f"dropout: noise_shape {tuple(noise_shape)} must have rank {len(shape)} "
                                 f"like the input of shape {shape}")
            shape = tuple(s if n is None else n for n, s in zip(noise_shape, shape))
        if level == 0:
            return x
        return x * self.dropout_mask(shape, level, self.dtype(x), seed)

    # ---- composites
    def linear(self, x):
        return x

    def hard_sigmoid(self, x):
        """Keras 1/2 slope: clip(0.2 x + 0.5, 0, 1)."""
        return self.clip(0.2 * x + 0.5, 0.0, 1.0)

    def softsign(self, x):
        return x / (1.0 + self.abs(x))

    def split(self, x, count: int, axis: int = -1) -> list:
        """`x` cut into `count` equal parts along `axis` (the gates of a fused projection)."""
        axis, size = self._part_size(x, count, axis)
        lead = (slice(None),) * axis
        return [self.getitem(x, lead + (slice(k * size, (k + 1) * size),)) for k in range(count)]

    def _part_size(self, x, count, axis):
        shape = self.int_shape(x)
        axis = axis % len(shape)
        if count < 1 or shape[axis] % count:
            raise ShapeError(f"split: axis {axis} of size {shape[axis]} does not divide into {count} equal parts")
        return axis, shape[axis] // count

    def mean(self, x, axis=None, keepdims=False):
        shape = self.int_shape(x)
        axes = range(len(shape)) if axis is None else (axis if isinstance(axis, (list, tuple)) else [axis])
        count = int(np.prod([shape[a] for a in axes]))
        return self.sum(x, axis, keepdims) / float(count)

    def var(self, x, axis=None, keepdims=False):
        centred = x - self.mean(x, axis, keepdims=True)
        return self.mean(self.square(centred), axis, keepdims)

    def std(self, x, axis=None, keepdims=False):
        return self.sqrt(self.var(x, axis, keepdims))

    def l2_normalize(self, x, axis=None):
        square_sum = self.sum(self.square(x), axis, keepdims=True)
        return x / self.sqrt(self.maximum(square_sum, 1e-12))

    def switch(self, condition, then_expression, else_expression):
        """`where` with a condition of lower rank broadcast from the left (Keras `switch`)."""
        if isinstance(condition, (bool, int)):
            chosen = then_expression if condition else else_expression
            return chosen() if callable(chosen) else chosen
        then_value = then_expression() if callable(then_expression) else then_expression
        else_value = else_expression() if callable(else_expression) else else_expression
        checks.switch(condition, then_value, else_value)
        if self.dtype(condition) != "bool":
            condition = self.not_equal(condition, 0)
        cond_ndim, value_ndim = self.ndim(condition), self.ndim(then_value)
        for _ in range(value_ndim - cond_ndim):
            condition = self.expand_dims(condition, -1)
        return self.where(condition, then_value, else_value)

    def in_train_phase(self, x, alt, training=None):
        if training is None:
            training = self.learning_phase()
        chosen = x if training else alt
        return chosen() if callable(chosen) else chosen

    def in_test_phase(self, x, alt, training=None):
        return self.in_train_phase(alt, x, training)

    def repeat(self, x, n: int):
        """(batch, dim) -> (batch, n, dim)."""
        if self.ndim(x) != 2:
            raise ShapeError(f"repeat: expected a 2D tensor, got shape {self.int_shape(x)}")
        return self.tile(self.expand_dims(x, 1), (1, n, 1))

    def flatten(self, x):
        return self.reshape(x, (-1,))

    def batch_flatten(self, x):
        return self.reshape(x, (self.int_shape(x)[0], -1))

    def batch_dot(self, x, y, axes=None):
        """Keras `batch_dot` for the common ranks: contract per sample over `axes`."""
        x_ndim, y_ndim = self.ndim(x), self.ndim(y)
        if axes is None:
            axes = (x_ndim - 1, y_ndim - 2) if y_ndim > 2 else (x_ndim - 1, y_ndim - 1)
        if isinstance(axes, int):
            axes = (axes, axes)
        ax, ay = [a % n for a, n in zip(axes, (x_ndim, y_ndim))]
        if x_ndim == 2 and y_ndim == 2:
            return self.sum(x * y, axis=1, keepdims=True)
        x = self._move_axis_last(x, ax)
        y = self._move_axis_to(y, ay, 1)
        x_shape, y_shape = self.int_shape(x), self.int_shape(y)
        out = self.matmul(self.reshape(x, (x_shape[0], -1, x_shape[-1])),
                          self.reshape(y, (y_shape[0], y_shape[1], -1)))
        return self.reshape(out, (x_shape[0],) + tuple(x_shape[1:-1]) + tuple(y_shape[2:]))

    def _move_axis_last(self, x, axis):
        order = [a for a in range(self.ndim(x)) if a != axis] + [axis]
        return self.permute_dimensions(x, order)

    def _move_axis_to(self, x, axis, to):
        order = [a for a in range(self.ndim(x)) if a != axis]
        order.insert(to, axis)
        return self.permute_dimensions(x, order)

    def dot(self, x, y):
        """Keras `dot`: contract the last axis of x with the second-to-last of y (the only one if 1D)."""
        if self.ndim(y) <= 2:
            return self.matmul(x, y)
        y_ndim = self.ndim(y)
        y_front = self._move_axis_to(y, y_ndim - 2, 0)
        y_shape = self.int_shape(y_front)
        x_shape = self.int_shape(x)
        out = self.matmul(self.reshape(x, (-1, x_shape[-1])), self.reshape(y_front, (y_shape[0], -1)))
        return self.reshape(out, tuple(x_shape[:-1]) + tuple(y_shape[1:]))

    def categorical_crossentropy(self, target, output, from_logits=False, axis=-1):
        if from_logits:
            return -self.sum(target * self.log_softmax(output, axis), axis)
        output = output / self.sum(output, axis, keepdims=True)
        eps = self.epsilon()
        output = self.clip(output, eps, 1.0 - eps)
        return -self.sum(target * self.log(output), axis)

    def sparse_categorical_crossentropy(self, target, output, from_logits=False, axis=-1):
        """As tf.keras: probabilities are clipped, then taken as logits (log) of a softmax."""
        classes = self.int_shape(output)[axis]
        target = self.one_hot(self.cast(self.reshape(target, self.int_shape(output)[:-1]), "int64"), classes)
        if not from_logits:
            eps = self.epsilon()
            output = self.log(self.clip(output, eps, 1.0 - eps))
        return self.categorical_crossentropy(self.cast(target, self.dtype(output)), output, True, axis)

    def binary_crossentropy(self, target, output, from_logits=False):
        if from_logits:
            return self.relu(output) - output * target + self.log(1.0 + self.exp(-self.abs(output)))
        eps = self.epsilon()
        output = self.clip(output, eps, 1.0 - eps)
        return -(target * self.log(output + eps) + (1.0 - target) * self.log(1.0 - output + eps))

    def log_softmax(self, x, axis=-1):
        shifted = x - self.stop_gradient(self.max(x, axis, keepdims=True))
        return shifted - self.log(self.sum(self.exp(shifted), axis, keepdims=True))

    def gradients(self, fn, variables):
        """Gradients of the scalar `fn()` with respect to `variables`."""
        return self.value_and_grad(fn, variables)[1]

    def function(self, fn):
        """Keras `K.function`: call `fn` on a list of inputs, return a list of NumPy outputs."""
        def call(inputs):
            inputs = [self.constant(v, None if v.dtype.kind == "f" else v.dtype.name) if isinstance(v, np.ndarray)
                      else v for v in inputs]
            outputs = fn(*inputs)
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            return [self.to_numpy(o) for o in outputs]
        return call

    # ---- a whole recurrent layer in one fused op: the one seam of the fast paths
    FUSED_CELLS = ("simple_rnn", "gru", "lstm")
    FUSED_ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "relu", "linear", "elu", "softsign", "softplus")

    def project_inputs(self, inputs, kernel, bias, masks):
        """x·W + b for all timesteps as one 2-D product (one per gate with implementation 1's per-gate masks);
        `inputs` (batch, time, features), or (batch, features) for one timestep."""
        shape = self.int_shape(inputs)

        def product(x, w):
            if len(shape) == 2:
                return self.matmul(x, w)
            flat = self.matmul(self.reshape(x, (shape[0] * shape[1], shape[2])), w)
            return self.reshape(flat, (shape[0], shape[1], self.int_shape(w)[1]))

        def masked(m):
            return inputs * (m if len(shape) == 2 else self.expand_dims(m, 1))
        if len(masks) <= 1:
            projected = product(masked(masks[0]) if masks else inputs, kernel)
        else:
            width = self.int_shape(kernel)[1] // len(masks)
            projected = self.concatenate(
                [product(masked(m), self.getitem(kernel, (slice(None), slice(g * width, (g + 1) * width))))
                 for g, m in enumerate(masks)], axis=-1)
        return projected + bias if bias is not None else projected

    def fused_rnn(self, *, cell, inputs, kernel, input_bias, recurrent_kernel, recurrent_bias, initial_states,
                  input_masks, recurrent_masks, mask, activation, recurrent_activation, go_backwards,
                  reset_after=False, step=None, unroll=False):
        """`(last_output, outputs, states)` of a SimpleRNN/GRU/LSTM layer with exactly `rnn`'s semantics, or
        None when this backend declines (the layer then runs `rnn` with its step, the reference).

        `inputs` (batch, time, features); `kernel`/`recurrent_kernel` and gates in the Keras 2 layout;
        `input_bias` (k·units,); `recurrent_bias` GRU reset_after's second bias row, else None; masks are
        lists: [] none, [m] shared by all gates, or one per gate; `mask` (batch, time) or None. `step` (the
        layer's bound reference step) and `unroll` serve backends that compile the step itself."""
        reason = self.fused_declines(cell, activation, recurrent_activation, reset_after)
        if reason is None and type(self).fused_recurrence is Backend.fused_recurrence:
            reason = "no fused kernel"
        if reason is not None:
            return config.decline(f"{self.name}: {reason}")
        projected = self.project_inputs(inputs, kernel, input_bias, input_masks)
        return self.fused_recurrence(cell, projected, list(initial_states), recurrent_kernel, recurrent_bias,
                                     recurrent_masks, mask, activation, recurrent_activation, go_backwards, reset_after)

    def fused_declines(self, cell, activation, recurrent_activation, reset_after):
        """Why this backend will not fuse the configuration, or None when `fused_recurrence` takes it."""
        if not config.fast_paths():
            return "fast paths are switched off"
        if cell not in self.FUSED_CELLS:
            return f"no fused kernel for {cell!r}"
        unknown = [a for a in (activation, recurrent_activation) if a not in self.FUSED_ACTIVATIONS]
        return f"no fused kernel for activation {unknown[0]!r}" if unknown else None

    def fused_recurrence(self, cell, projected, initial_states, recurrent_kernel, recurrent_bias, recurrent_masks,
                         mask, activation, recurrent_activation, go_backwards, reset_after):
        """The recurrence over projected inputs as one op (backends with a fused kernel override this)."""
        return None

    def run_if_finite(self, value, fn):
        """Call `fn()` (an in-place update) when every entry of `value` is finite; whether it ran (a compiled
        step decides inside its graph and returns a bool tensor)."""
        finite = bool(np.isfinite(np.asarray(self.to_numpy(value))).all())
        if finite:
            fn()
        return finite

    def compiled_step(self, fn):
        """`fn` compiled for repeated calls with the same signature, or None when this backend runs it as it
        is (eager NumPy, CuPy and torch gain nothing from a trace); the numbers must be `fn`'s own."""
        return None

    # ---- the time loop, written once
    def rnn(self, step_function, inputs, initial_states, go_backwards=False, mask=None,
            constants=None, unroll=False, input_length=None):
        """Iterate `step_function(x_t, states + constants)` over axis 1 of `inputs`.

        Returns `(last_output, outputs, new_states)`; `outputs` are in processing order.
        Masked steps (mask (batch, time), True = keep) carry the previous states and output.
        """
        shape = self.int_shape(inputs)
        if len(shape) < 3:
            raise ValueError(f"rnn: inputs must be at least 3D (batch, time, ...), got shape {shape}")
        steps = shape[1]
        if input_length is not None and steps != input_length:
            raise ValueError(f"rnn: input_length is {input_length} but the inputs have {steps} timesteps")
        if steps == 0:
            raise ValueError("rnn: the inputs have no timesteps")
        if mask is not None:
            mask_shape = self.int_shape(mask)
            if tuple(mask_shape[:2]) != tuple(shape[:2]):
                raise ValueError(f"rnn: mask of shape {tuple(mask_shape)} does not match inputs "
                                 f"(batch, time) = {tuple(shape[:2])}")
            mask = self.cast(mask if self.is_tensor(mask) else self.constant(mask, "bool"), "bool")
        constants = list(constants or [])
        states = list(initial_states)
        time_major = self.unstack(inputs, axis=1)
        masks = self.unstack(mask, axis=1) if mask is not None else [None] * steps
        order = range(steps - 1, -1, -1) if go_backwards else range(steps)
        outputs, previous = [], None
        for t in order:
            output, new_states = step_function(time_major[t], states + constants)
            new_states = list(new_states)
            if len(new_states) != len(states):
                raise ValueError(f"rnn: the step function returned {len(new_states)} states "
                                 f"for {len(states)} initial states")
            if masks[t] is not None:
                if previous is None:
                    previous = self.zeros_like(output)
                output = self.switch(masks[t], output, previous)
                new_states = [self.switch(masks[t], new, old) for new, old in zip(new_states, states)]
            outputs.append(output)
            states, previous = new_states, output
        return outputs[-1], self.stack(outputs, axis=1), states


guards.install(Backend)
