"""Custom cells: a user's own cell in `RNN(cell)` gives the same numbers on every backend and in tf_keras.

The cell is a minimal gated unit (one gate, GRU-like) written with K only, and the same cell written
for tf_keras. A few configurations (stacking with LSTMCell, masks, go_backwards, states) compare the
outputs and the gradients of `sum_k sum(out_k * R_k)` for the input, the initial states and the weights.
"""
import dataclasses
from typing import Dict, List, Optional

import numpy as np

from multirnn import backend as K
from multirnn import backends, layers
from multirnn.backends import frameworks

from .runner import floatx

BATCH, STEPS, FEATURES, UNITS = 3, 5, 4, 3
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


class MinimalGRUCell(layers.Layer):
    """f = σ(x·W_f + h·U_f + b_f), h̃ = tanh(x·W_h + (f⊙h)·U_h + b_h), h' = (1−f)⊙h + f⊙h̃."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], 2 * self.units))
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(self.units, 2 * self.units),
                                                initializer="orthogonal")
        self.bias = self.add_weight(name="bias", shape=(2 * self.units,), initializer="zeros")
        self.built = True

    def call(self, inputs, states):
        h, u = states[0], self.units
        x_f, x_h = K.split(K.dot(inputs, self.kernel) + self.bias, 2)
        f = K.sigmoid(x_f + K.dot(h, self.recurrent_kernel[:, :u]))
        candidate = K.tanh(x_h + K.dot(f * h, self.recurrent_kernel[:, u:]))
        h = (1.0 - f) * h + f * candidate
        return h, [h]

    def get_config(self):
        return dict(super().get_config(), units=self.units)


def tf_keras_cell(units: int, dtype: str):
    """The same cell written for tf_keras (its own Layer, tf ops)."""
    tf, tf_keras = frameworks.require("tensorflow"), frameworks.require("tf_keras")

    class TfMinimalGRUCell(tf_keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(dtype=dtype, **kwargs)
            self.units = self.state_size = self.output_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], 2 * units))
            self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(units, 2 * units))
            self.bias = self.add_weight(name="bias", shape=(2 * units,))

        def call(self, inputs, states):
            h = states[0]
            x_f, x_h = tf.split(tf.matmul(inputs, self.kernel) + self.bias, 2, axis=-1)
            f = tf.sigmoid(x_f + tf.matmul(h, self.recurrent_kernel[:, :units]))
            candidate = tf.tanh(x_h + tf.matmul(f * h, self.recurrent_kernel[:, units:]))
            h = (1.0 - f) * h + f * candidate
            return h, [h]
    return TfMinimalGRUCell()


@dataclasses.dataclass(frozen=True)
class CellConfig:
    id: str
    stacked: bool = False
    go_backwards: bool = False
    masked: bool = False
    return_sequences: bool = True
    return_state: bool = False
    initial_state: bool = False


CONFIGS = [
    CellConfig("mgu-seq"),
    CellConfig("mgu-last-state-bwd-holes", go_backwards=True, masked=True, return_sequences=False, return_state=True),
    CellConfig("mgu+lstm-stacked-seq-state-holes-h0", stacked=True, masked=True, return_state=True,
               initial_state=True),
]


def _cells(config: CellConfig, make_custom, make_lstm):
    return [make_custom(), make_lstm()] if config.stacked else make_custom()


def state_count(config: CellConfig) -> int:
    return 3 if config.stacked else 1


def host_data(config: CellConfig, dtype: str, weight_shapes: List[tuple]) -> Dict[str, object]:
    """Inputs, mask, initial states, weights and output weights R_k, drawn once on the host."""
    rng = np.random.default_rng(11)
    mask = np.ones((BATCH, STEPS), bool)
    mask[0, 1] = mask[1, 3:] = mask[2, 0] = False
    return {"x": rng.standard_normal((BATCH, STEPS, FEATURES)).astype(dtype),
            "mask": mask if config.masked else None,
            "h0": [rng.standard_normal((BATCH, UNITS)).astype(dtype) for _ in range(state_count(config))]
            if config.initial_state else None,
            "weights": [(0.5 * rng.standard_normal(s)).astype(dtype) for s in weight_shapes],
            "r": rng.standard_normal((1 + state_count(config), BATCH, STEPS, UNITS)).astype(dtype)}


def _loss_terms(outputs, r, K_sum, const, return_sequences):
    terms = []
    for k, out in enumerate(outputs):
        weight = r[k] if (k == 0 and return_sequences) else r[k][:, 0]
        terms.append(K_sum(out * const(weight)))
    return sum(terms[1:], terms[0])


def weight_shapes(config: CellConfig) -> List[tuple]:
    custom = [(FEATURES, 2 * UNITS), (UNITS, 2 * UNITS), (2 * UNITS,)]
    return custom + [(UNITS, 4 * UNITS), (UNITS, 4 * UNITS), (4 * UNITS,)] if config.stacked else custom


def run_multirnn(config: CellConfig, backend: str, dtype: str, data: dict) -> Dict[str, np.ndarray]:
    """Outputs and gradients (input, initial states, weights) of the configuration on one backend."""
    with floatx(dtype), backends.use(backend) as KB:
        layer = layers.RNN(_cells(config, lambda: MinimalGRUCell(UNITS), lambda: layers.LSTMCell(UNITS)),
                           return_sequences=config.return_sequences, return_state=config.return_state,
                           go_backwards=config.go_backwards)
        layer.build((BATCH, STEPS, FEATURES))
        layer.set_weights(data["weights"])
        x = KB.variable(data["x"], dtype)
        h0 = [KB.variable(h, dtype) for h in data["h0"]] if data["h0"] is not None else []
        mask = KB.constant(data["mask"], "bool") if data["mask"] is not None else None

        def forward():
            out = layer(x, mask=mask, initial_state=h0 or None)
            return out if isinstance(out, list) else [out]
        outputs = [KB.to_numpy(o) for o in forward()]
        _, grads = KB.value_and_grad(
            lambda: _loss_terms(forward(), data["r"], KB.sum, lambda v: KB.constant(v, dtype),
                                config.return_sequences), [x] + h0 + layer.trainable_weights)
    return _named(outputs, [KB.to_numpy(g) for g in grads], len(h0))


def run_tf_keras(config: CellConfig, dtype: str, data: dict) -> Dict[str, np.ndarray]:
    """The same configuration in tf_keras (its RNN, its LSTMCell, the tf_keras custom cell)."""
    tf, tf_keras = frameworks.require("tensorflow"), frameworks.require("tf_keras")
    cell = _cells(config, lambda: tf_keras_cell(UNITS, dtype), lambda: tf_keras.layers.LSTMCell(UNITS, dtype=dtype))
    if config.stacked:  # built here so that it computes in `dtype` (RNN's own stack would cast to float32)
        cell = tf_keras.layers.StackedRNNCells(cell, dtype=dtype)
    layer = tf_keras.layers.RNN(cell, return_sequences=config.return_sequences, return_state=config.return_state,
                                go_backwards=config.go_backwards, dtype=dtype)
    layer.build((BATCH, STEPS, FEATURES))
    layer.set_weights(data["weights"])
    x = tf.Variable(data["x"])
    h0 = [tf.Variable(h) for h in data["h0"]] if data["h0"] is not None else []
    mask = tf.constant(data["mask"]) if data["mask"] is not None else None
    nested = [h0[0], h0[1:]] if config.stacked and h0 else h0  # tf_keras nests the states of a stack per cell
    with tf.GradientTape() as tape:
        out = layer(x, mask=mask, initial_state=nested or None)
        out = tf.nest.flatten(out)
        loss = _loss_terms(out, data["r"], tf.reduce_sum, lambda v: tf.constant(v), config.return_sequences)
    grads = tape.gradient(loss, [x] + h0 + layer.trainable_weights)
    return _named([o.numpy() for o in out], [g.numpy() for g in grads], len(h0))


def _named(outputs, grads, states: int) -> Dict[str, np.ndarray]:
    named = {f"out[{k}]": o for k, o in enumerate(outputs)}
    named["grad:input"] = grads[0]
    named.update({f"grad:initial_state[{k}]": g for k, g in enumerate(grads[1:1 + states])})
    named.update({f"grad:w{k}": g for k, g in enumerate(grads[1 + states:])})
    return named


def compare(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray], dtype: str) -> List[str]:
    """The keys on which `a` and `b` differ beyond the tolerance (a missing key counts)."""
    bad = sorted(set(a) ^ set(b))
    for key in sorted(set(a) & set(b)):
        x, y = np.asarray(a[key], np.float64), np.asarray(b[key], np.float64)
        scale = max(1.0, float(np.abs(x).max(initial=0)), float(np.abs(y).max(initial=0)))
        if x.shape != y.shape or float(np.abs(x - y).max(initial=0)) > TOLERANCE[dtype] * scale:
            bad.append(key)
    return bad


def run(backend_names: Optional[List[str]] = None, dtypes=("float64", "float32"), oracle: bool = True) -> dict:
    """{(config id, dtype, side): [differing keys]} against NumPy for every backend, and for tf_keras."""
    names = backend_names or backends.available()
    failures = {}
    for config in CONFIGS:
        for dtype in dtypes:
            data = host_data(config, dtype, weight_shapes(config))
            reference = run_multirnn(config, "numpy", dtype, data)
            sides = {name: (lambda n=name: run_multirnn(config, n, dtype, data)) for name in names if name != "numpy"}
            if oracle and frameworks.HAS_TF_KERAS:
                sides["tf_keras"] = lambda: run_tf_keras(config, dtype, data)
            for side, compute in sides.items():
                failures[(config.id, dtype, side)] = compare(compute(), reference, dtype)
    return failures


def main(backend_names: Optional[List[str]] = None, oracle: bool = True) -> int:
    """Print one line per configuration, dtype and side; 0 when all conform, 1 otherwise."""
    failures = run(backend_names, oracle=oracle)
    for (config_id, dtype, side), keys in failures.items():
        print(f"cells {config_id} [{dtype}] {side} vs numpy: " + ("ok" if not keys else "DIFFERS " + ", ".join(keys)))
    failed = sum(bool(keys) for keys in failures.values())
    print(f"custom cells: {len(failures)} comparisons, {failed} failed")
    return 1 if failed else 0
