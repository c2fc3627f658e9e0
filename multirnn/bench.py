"""`python -m multirnn.bench`: time an LSTM training step on each backend against the native layers.

Everything runs in one process on the same sizes and weights, so the ratios (native time /
multirnn time; above 1 means multirnn is faster) are comparable even on a noisy machine.
"""
import argparse
import time

import numpy as np

from multirnn import backends
from multirnn.backends import frameworks


def best_time(fn, repeat: int) -> float:
    """The best of `repeat` timed calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def multirnn_step(backend: str, weights, x, units: int):
    """A closure running forward and backward of an LSTM on `backend`: loss, grads for all weights."""
    from multirnn import layers
    with backends.use(backend) as K:
        layer = layers.LSTM(units, return_sequences=True)
        layer.build(x.shape)
        layer.set_weights(weights)
        inputs = K.constant(x)

    def step():
        with backends.use(backend) as K:
            return K.value_and_grad(lambda: K.sum(layer(inputs)), layer.trainable_weights)
    return step


def torch_step(weights, x, units: int):
    import torch
    lstm = torch.nn.LSTM(x.shape[2], units, batch_first=True)
    kernel, recurrent, bias = weights
    with torch.no_grad():  # Keras [i, f, c, o] is torch's [i, f, g, o]
        lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent.T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
        lstm.bias_hh_l0.zero_()
    inputs = torch.from_numpy(x)

    def step():
        lstm.zero_grad()
        loss = lstm(inputs)[0].sum()
        loss.backward()
        return loss
    return step


def tf_keras_step(weights, x, units: int):
    import tensorflow as tf
    import tf_keras
    lstm = tf_keras.layers.LSTM(units, return_sequences=True)
    lstm.build(x.shape)
    lstm.set_weights(weights)
    inputs = tf.constant(x)

    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(lstm(inputs))
        return tape.gradient(loss, lstm.trainable_weights)
    return step


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m multirnn.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.RandomState(0)
    x = rng.randn(args.batch, args.steps, args.features).astype("float32")
    u = args.units
    weights = [rng.randn(args.features, 4 * u).astype("float32") * 0.1,
               rng.randn(u, 4 * u).astype("float32") * 0.1, np.zeros(4 * u, "float32")]
    print(f"LSTM forward+backward, batch {args.batch}, {args.steps} steps, {args.features} features, "
          f"{u} units, float32, best of {args.repeat}")
    native = {}
    if frameworks.HAS_TORCH:
        native["torch.nn.LSTM"] = best_time(torch_step(weights, x, u), args.repeat)
    if frameworks.HAS_TF_KERAS:
        native["tf_keras LSTM"] = best_time(tf_keras_step(weights, x, u), args.repeat)
    for name, seconds in native.items():
        print(f"  {name:<22} {seconds * 1e3:9.2f} ms")
    results = {}
    for backend in backends.available():
        seconds = best_time(multirnn_step(backend, weights, x, u), args.repeat)
        results[backend] = seconds
        ratios = "  ".join(f"{name}/ours {ref / seconds:5.2f}" for name, ref in native.items())
        print(f"  multirnn {backend:<13} {seconds * 1e3:9.2f} ms   {ratios}")
    return {"native": native, "multirnn": results}


if __name__ == "__main__":
    main()
