"""`keras.engine.topology` of Keras 1: where old scripts import `Merge`, `Layer` and `Input` from."""
from multirnn.layers import Input, InputLayer, Layer, Merge, merge

__all__ = ["Input", "InputLayer", "Layer", "Merge", "merge"]
