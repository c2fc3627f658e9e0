"""Dropout in `fit`: record the masks a multirnn model draws per training batch, replay them in tf_keras.

multirnn draws its masks on the host; the recorder wraps the recurrent layers' `_masks` and, around a
`Dropout` layer's call, the backend's `dropout_mask`, so the layers compute exactly as usual. In
tf_keras the masks live in variables that a callback assigns before each training batch; the cells
read them through the `DropoutRNNCellMixin` getters and the `Dropout` layers through their call, in
training only (inference is unchanged), so a traced `fit` replays them too.
"""
import contextlib
from typing import Dict, List

import numpy as np

from multirnn import backends
from multirnn.backends import frameworks


@contextlib.contextmanager
def recording(model, backend_name: str):
    """Yield `{layer name: [per training call: {'input'|'recurrent'|'dropout': [host masks]}]}` filled while the
    block trains `model` (a multirnn model)."""
    drawn: Dict[str, List[dict]] = {}
    hooked = []
    backend = backends.get(backend_name)
    for layer in model.layers:
        if hasattr(layer, "_masks") and (getattr(layer, "dropout", 0) or getattr(layer, "recurrent_dropout", 0)):
            calls, pending = [0], [{}]

            def masks(batch, width, level, training, _layer=layer, _calls=calls, _pending=pending):
                got = type(_layer)._masks(_layer, batch, width, level, training)
                kind = ("input", "recurrent")[_calls[0] % 2]  # a layer call draws its input masks first
                _calls[0] += 1
                if kind == "input":
                    _pending[0] = {}
                if got:
                    _pending[0][kind] = [np.asarray(backend.to_numpy(m)) for m in got]
                if kind == "recurrent" and _pending[0]:
                    drawn.setdefault(_layer.name, []).append(_pending[0])
                return got
            layer._masks = masks
            hooked.append((layer, "_masks"))
        elif type(layer).__name__ == "Dropout" and layer.rate:
            def call(inputs, training=None, _layer=layer):
                seen = []

                def dropout_mask(*args, **kwargs):
                    seen.append(type(backend).dropout_mask(backend, *args, **kwargs))
                    return seen[-1]
                backend.dropout_mask = dropout_mask
                try:
                    out = type(_layer).call(_layer, inputs, training=training)
                finally:
                    del backend.dropout_mask
                if seen:
                    drawn.setdefault(_layer.name, []).append({"dropout": [np.asarray(backend.to_numpy(seen[-1]))]})
                return out
            layer.call = call
            hooked.append((layer, "call"))
    try:
        yield drawn
    finally:
        for layer, attribute in hooked:
            delattr(layer, attribute)


def replaying(model, drawn: Dict[str, List[dict]], dtype: str):
    """A tf_keras callback that makes `model` (tf_keras) use the recorded masks, batch by batch, when fitting."""
    tf, tf_keras = frameworks.require("tensorflow"), frameworks.require("tf_keras")
    slots: Dict[tuple, tf.Variable] = {}

    def variables(name, kind):
        entries = drawn[name]
        count = len(entries[0].get(kind) or [])
        for k in range(count):
            if (name, kind, k) not in slots:
                slots[(name, kind, k)] = tf.Variable(entries[0][kind][k], dtype=dtype, shape=tf.TensorShape(None))
        return [slots[(name, kind, k)] for k in range(count)]

    def in_training(values, like, training):
        """The masks in training, ones otherwise, with the static shape of `like` (the masked tensor)."""
        values = [tf.ensure_shape(tf.convert_to_tensor(v), like.shape) for v in values]
        return [tf_keras.backend.in_train_phase(v, tf.ones_like(like), training=training) for v in values]

    for layer in model.layers:
        if layer.name not in drawn:
            continue
        if hasattr(layer, "cell"):
            def getter(kind, _name=layer.name):
                def get(inputs, training, count=1):
                    values = variables(_name, kind)
                    if not values:
                        return None
                    values = in_training(values, inputs, training)
                    if count == 1:
                        return values[0]
                    return values * count if len(values) == 1 else values  # one mask serves every gate
                return get
            layer.cell.get_dropout_mask_for_cell = getter("input")
            layer.cell.get_recurrent_dropout_mask_for_cell = getter("recurrent")
        else:
            def dropout_call(inputs, training=None, _name=layer.name):
                return inputs * in_training(variables(_name, "dropout"), inputs, training)[0]
            layer.call = dropout_call

    class Replay(tf_keras.callbacks.Callback):
        """Assigns the masks of training call `step` before each batch."""

        def __init__(self):
            super().__init__()
            self.step = 0

        def on_train_batch_begin(self, batch, logs=None):
            for (name, kind, k), variable in slots.items():
                variable.assign(drawn[name][self.step][kind][k])
            self.step += 1

    for name, entries in drawn.items():  # create every slot before the train function is traced
        for kind in entries[0]:
            variables(name, kind)
    return Replay()
