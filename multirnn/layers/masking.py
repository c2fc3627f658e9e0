"""Masking: skip timesteps whose features all equal `mask_value`."""
from multirnn import backend as K
from multirnn.layers.base import Layer


class Masking(Layer):
    """Mask a timestep (and zero it) when every feature equals `mask_value`."""

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return K.any(K.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, inputs):
        keep = K.any(K.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        return inputs * K.cast(keep, K.dtype(inputs))

    def get_config(self):
        return dict(super().get_config(), mask_value=self.mask_value)
