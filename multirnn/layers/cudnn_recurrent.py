"""CuDNNLSTM and CuDNNGRU (Keras 2.1 names): LSTM and GRU fixed as cuDNN computes them.

tanh and sigmoid, a bias, no dropout, GRU with reset_after=True; the Keras 2 weight layout. They
run on every backend and take the fast kernels of LSTM/GRU where a backend has them.
"""
from multirnn.errors import ArgumentTypeError
from multirnn.layers.recurrent import GRU, LSTM

FIXED = ("activation", "recurrent_activation", "use_bias", "dropout", "recurrent_dropout", "implementation",
         "unroll", "reset_after")


def _refuse(layer_class: str, kwargs: dict) -> None:
    fixed = [k for k in kwargs if k in FIXED or k in ("dropout_W", "dropout_U", "inner_activation", "consume_less")]
    if fixed:
        raise ArgumentTypeError(f"{layer_class}: {', '.join(f'{k}=' for k in fixed)} is not an argument of "
                                f"{layer_class} (tanh and sigmoid, a bias, no dropout, as cuDNN computes it); "
                                f"use {layer_class[5:]} for that")


class CuDNNLSTM(LSTM):
    """LSTM with tanh/sigmoid, a bias and no dropout (Keras 2.1's cuDNN layer)."""

    def __init__(self, units, kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, **kwargs):
        _refuse("CuDNNLSTM", kwargs)
        super().__init__(units, unit_forget_bias=unit_forget_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, return_sequences=return_sequences,
                         return_state=return_state, go_backwards=go_backwards, stateful=stateful, **kwargs)

    def get_config(self):
        return {k: v for k, v in super().get_config().items() if k not in FIXED}


class CuDNNGRU(GRU):
    """GRU(reset_after=True) with tanh/sigmoid, a bias and no dropout (Keras 2.1's cuDNN layer)."""

    def __init__(self, units, kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, **kwargs):
        _refuse("CuDNNGRU", kwargs)
        super().__init__(units, reset_after=True, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, return_sequences=return_sequences,
                         return_state=return_state, go_backwards=go_backwards, stateful=stateful, **kwargs)

    def get_config(self):
        return {k: v for k, v in super().get_config().items() if k not in FIXED}
