"""Compiled recurrent layers on TensorFlow.

Under tracing, `rnn` is one `tf.while_loop` over time with exactly the masking of the Python loop.
The fused-op seam compiles a whole layer call (the loop with each step's input projection, and so its
gradient) as one `tf.function` per cell configuration: the layer's own reference `step` runs on a copy of the
layer whose weights are the function's arguments, so every layer of one configuration shares one
trace, the numbers are those of the written step, and dropout masks come in as arguments (drawn
on the host, identical on every backend). A configuration traces once per input shape (an epoch
whose last batch is smaller traces twice); the K ops inside see static shapes, as in eager mode.
"""
import copy

from . import frameworks

tf = frameworks.require("tensorflow")

_compiled = {}  # static configuration -> tf.function shared by every layer of that configuration


def while_rnn(K, step_function, inputs, initial_states, go_backwards, mask, constants):
    """`rnn` inside a traced function: `(last_output, outputs, states)` from one `tf.while_loop`."""
    order = [1, 0] + list(range(2, len(inputs.shape)))
    time_major = tf.transpose(inputs, order)
    keep = None if mask is None else tf.transpose(tf.cast(mask, tf.bool), [1, 0])
    if go_backwards:
        time_major = tf.reverse(time_major, [0])
        keep = None if keep is None else tf.reverse(keep, [0])
    steps = time_major.shape[0] if time_major.shape[0] is not None else tf.shape(time_major)[0]
    xs = tf.TensorArray(time_major.dtype, size=steps).unstack(time_major)
    keeps = None if keep is None else tf.TensorArray(tf.bool, size=steps).unstack(keep)
    constants, states = list(constants or []), list(initial_states)

    def one_step(t, previous, states):
        output, new_states = step_function(xs.read(t), states + constants)
        new_states = list(new_states)
        if len(new_states) != len(states):
            raise ValueError(f"rnn: the step function returned {len(new_states)} states "
                             f"for {len(states)} initial states")
        if keeps is not None:
            kept = keeps.read(t)
            output = K.switch(kept, output, K.zeros_like(output) if previous is None else previous)
            new_states = [K.switch(kept, new, old) for new, old in zip(new_states, states)]
        return output, new_states
    first, states = one_step(0, None, states)
    outputs = tf.TensorArray(first.dtype, size=steps, element_shape=first.shape).write(0, first)

    def body(t, previous, states, outputs):
        output, states = one_step(t, previous, states)
        return t + 1, output, states, outputs.write(t, output)
    _, last, states, outputs = tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(1), first, states, outputs))
    stacked = outputs.stack()
    return last, tf.transpose(stacked, [1, 0] + list(range(2, len(stacked.shape)))), list(states)


def fused_rnn(K, layer, unroll, inputs, initial_states, input_masks, recurrent_masks, mask):
    """The call of a built-in recurrent layer as one compiled function (its gradient compiled too).

    Weights, inputs and states go in as values (read on the tape, so their gradients flow), never as
    variables: a variable argument would trace once per variable instead of once per configuration."""
    key = (type(layer), layer.units, layer.activation, layer.recurrent_activation, layer.bias is None,
           getattr(layer, "reset_after", None), layer.go_backwards, bool(unroll), len(input_masks),
           len(recurrent_masks), mask is None, len(initial_states))
    function = _compiled.get(key)
    if function is None:
        function = _compiled[key] = tf.function(_layer_call(K, _template(layer), unroll))
    mask = None if mask is None else tf.cast(mask, tf.bool)
    weights = [_value(w) for w in (layer.kernel, layer.recurrent_kernel, layer.bias)]
    return function(_value(inputs), *weights, [_value(s) for s in initial_states], [_value(m) for m in input_masks],
                    [_value(m) for m in recurrent_masks], mask)


def _value(x):
    """A tensor for a tensor or variable (a variable's value, read on the tape), None for None."""
    return None if x is None else tf.convert_to_tensor(x)


def tracing_count(layer_type=None) -> int:
    """How many traces the compiled layer calls made (all of them, or those of one layer class)."""
    return sum(f.experimental_get_tracing_count() for key, f in _compiled.items()
               if layer_type is None or key[0] is layer_type)


def _template(layer):
    """A weightless copy of `layer` holding only what its step reads (kept alive by the cache)."""
    view = copy.copy(layer)
    view.kernel = view.recurrent_kernel = view.bias = view.states = None
    view._trainable_weights, view._non_trainable_weights, view.inbound_nodes = [], [], []
    view._weight_names, view._regularized, view._constraints = {}, [], {}
    return view


def _layer_call(K, template, unroll):
    """The layer's call with its input projection inside the loop, one timestep at a time (as tf_keras's
    standard kernels): each step's x·W stays in cache, and no (batch, time, k·units) tensor is transposed."""
    def call(inputs, kernel, recurrent_kernel, bias, states, input_masks, recurrent_masks, mask):
        layer = copy.copy(template)
        if bias is not None and bias.shape.rank == 2:  # GRU reset_after's rows, cut once: no slice in every step
            bias = tuple(tf.unstack(bias))
        layer.kernel, layer.recurrent_kernel, layer.bias = kernel, recurrent_kernel, bias

        def step(x, states):
            return layer.step(layer.input_projection(x, input_masks), states)
        return K.rnn(step, inputs, states, go_backwards=layer.go_backwards, mask=mask, constants=recurrent_masks,
                     unroll=unroll)
    return call
