"""The systems under test: multirnn on each backend, and the anchors it is measured against.

Each builder takes a `Problem` and returns a `Runner` whose `predict()` is one forward pass
(`predict_on_batch(x)`) and whose `train()` is one SGD step on the MSE of the last output.
"""
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from multirnn.bench.workloads import LEARNING_RATE, Problem


@dataclass
class Runner:
    predict: Callable[[], np.ndarray]
    train: Callable[[], float]


@dataclass(frozen=True)
class System:
    """A row of the benchmark. `anchor` systems set the pace; Keras 3 ones run in a child process."""
    name: str
    build: Callable[[Problem], Runner]
    modules: Tuple[str, ...] = ()      # what must be importable
    frameworks: Tuple[str, ...] = ()   # whose thread pools to configure: "torch", "tensorflow"
    anchor: bool = True
    keras_backend: Optional[str] = None
    check: Optional[Callable[[], Optional[str]]] = None  # a further reason it cannot run, or None

    def unavailable(self) -> Optional[str]:
        """Why this system cannot run here, or None."""
        missing = [m for m in self.modules if importlib.util.find_spec(m) is None]
        if missing:
            return f"{', '.join(missing)} not installed"
        return self.check() if self.check else None


# ---- builders
def _multirnn_layer(backend: str, problem: Problem):
    from multirnn import backends, layers
    w = problem.workload
    with backends.use(backend):
        layer = getattr(layers, problem.cell)(w.units, input_shape=(w.steps, w.features))
    return layer


def build_multirnn(backend: str, problem: Problem) -> Runner:
    from multirnn import backends, models, optimizers
    layer = _multirnn_layer(backend, problem)
    with backends.use(backend):
        model = models.Sequential([layer])
        model.compile(optimizers.SGD(learning_rate=LEARNING_RATE), "mse")
        layer.set_weights(problem.weights)
    x, y = problem.x, problem.y
    return Runner(lambda: model.predict_on_batch(x), lambda: model.train_on_batch(x, y))


def _reference_layer(problem: Problem):
    """A multirnn NumPy layer holding the problem's weights, for the interop converters."""
    from multirnn import backends
    layer = _multirnn_layer("numpy", problem)
    with backends.use("numpy"):
        layer.build((None, problem.workload.steps, problem.workload.features))
        layer.set_weights(problem.weights)
    return layer


def build_torch_nn(problem: Problem) -> Runner:
    """torch.nn.LSTM/GRU/RNN on the device multirnn's torch backend uses (CUDA when torch sees one)."""
    import torch
    from multirnn import backends, interop
    device = backends.get("torch").device
    module = interop.torch_module(_reference_layer(problem)).to(device)
    optimizer = torch.optim.SGD(module.parameters(), lr=LEARNING_RATE)
    x, y = torch.from_numpy(problem.x).to(device), torch.from_numpy(problem.y).to(device)

    def predict():
        with torch.inference_mode():
            return module(x)[0][:, -1].cpu().numpy()

    def train():
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(module(x)[0][:, -1], y)
        loss.backward()
        optimizer.step()
        return loss.item()
    return Runner(predict, train)


def build_tf_keras(problem: Problem) -> Runner:
    import tensorflow as tf
    import tf_keras
    from multirnn import interop
    layer = interop.to_tf_keras(_reference_layer(problem))
    optimizer = tf_keras.optimizers.SGD(learning_rate=LEARNING_RATE)
    x, y = tf.constant(problem.x), tf.constant(problem.y)

    @tf.function
    def forward(inputs):
        return layer(inputs)

    @tf.function
    def step(inputs, targets):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(inputs, training=True) - targets))
        grads = tape.gradient(loss, layer.trainable_weights)
        optimizer.apply_gradients(zip(grads, layer.trainable_weights))
        return loss
    return Runner(lambda: forward(x).numpy(), lambda: float(step(x, y)))


def build_keras3(problem: Problem) -> Runner:
    """Keras 3 on the backend its KERAS_BACKEND names (set by the parent for this child process)."""
    import keras
    w = problem.workload
    layer = getattr(keras.layers, problem.cell)(w.units)
    model = keras.Sequential([keras.Input((w.steps, w.features)), layer])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE), loss="mse")
    layer.set_weights(problem.weights)
    x, y = problem.x, problem.y
    return Runner(lambda: model.predict_on_batch(x), lambda: float(model.train_on_batch(x, y)))


def build_numpy_bptt(problem: Problem) -> Runner:
    from multirnn.bench.numpy_reference import NumpyBPTT
    model = NumpyBPTT(problem.cell, problem.weights, LEARNING_RATE)
    x, y = problem.x, problem.y
    return Runner(lambda: model.predict_on_batch(x), lambda: model.train_on_batch(x, y))


# ---- availability checks
def _multirnn_backend_check(backend: str) -> Callable[[], Optional[str]]:
    def check():
        from multirnn import backends
        from multirnn.backends import frameworks
        if backend == "cupy" and frameworks.cuda_device_count() == 0:
            return "no CUDA device"
        try:
            backends.get(backend)
        except (ImportError, RuntimeError) as e:
            return str(e).splitlines()[0]
        return None
    return check


def _keras3_check() -> Optional[str]:
    version = importlib.metadata.version("keras")
    return None if int(version.split(".")[0]) >= 3 else f"keras {version} is not Keras 3"


def _multirnn(backend: str, frameworks: Tuple[str, ...] = (), modules: Tuple[str, ...] = ()) -> System:
    return System(f"multirnn-{backend}", lambda p: build_multirnn(backend, p), modules, frameworks,
                  anchor=False, check=_multirnn_backend_check(backend))


def _keras3(backend: str, module: str) -> System:
    return System(f"keras3-{backend}", build_keras3, ("keras", module), (backend,), keras_backend=backend,
                  check=_keras3_check)


SYSTEMS: Dict[str, System] = {s.name: s for s in (
    _multirnn("numpy"),
    _multirnn("cupy", modules=("cupy",)),
    _multirnn("torch", ("torch",), ("torch",)),
    _multirnn("tensorflow", ("tensorflow",), ("tensorflow",)),
    System("numpy-bptt", build_numpy_bptt),
    System("torch.nn", build_torch_nn, ("torch",), ("torch",)),
    System("tf_keras", build_tf_keras, ("tensorflow", "tf_keras"), ("tensorflow",)),
    _keras3("torch", "torch"),
    _keras3("tensorflow", "tensorflow"),
)}


def select(patterns: Optional[Sequence[str]] = None) -> List[System]:
    """The systems named by `patterns` (a name, or a prefix before '-': 'multirnn', 'keras3'), in table order."""
    if not patterns:
        return list(SYSTEMS.values())
    unknown = [p for p in patterns if not any(n == p or n.startswith(p + "-") for n in SYSTEMS)]
    if unknown:
        raise ValueError(f"unknown system(s) {', '.join(unknown)}; expected names from {', '.join(SYSTEMS)} "
                         "or the prefixes multirnn, keras3")
    return [s for n, s in SYSTEMS.items() if any(n == p or n.startswith(p + "-") for p in patterns)]
