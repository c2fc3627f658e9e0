"""Keras 1/2's `keras.engine`: the layer base, inputs and the Keras 1 `Merge`, by their old import path."""
from multirnn.engine.topology import Input, InputLayer, Layer, Merge, merge

__all__ = ["Input", "InputLayer", "Layer", "Merge", "merge"]
