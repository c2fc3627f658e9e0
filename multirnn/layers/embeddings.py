"""Embedding: integer indices -> dense vectors, with the optional zero mask and Keras 1's word dropout."""
import numpy as np

from multirnn import backend as K
from multirnn import constraints, initializers, regularizers
from multirnn.errors import InvalidArgumentError
from multirnn.keras1 import keras1_aliases
from multirnn.layers.base import Layer, get_constraint, get_initializer, get_regularizer

EMBEDDING_ALIASES = {"init": "embeddings_initializer", "W_regularizer": "embeddings_regularizer",
                     "W_constraint": "embeddings_constraint"}


class Embedding(Layer):
    """Turn indices (batch, length) into vectors (batch, length, output_dim)."""

    @keras1_aliases(EMBEDDING_ALIASES)
    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, dropout=0.0, **kwargs):
        if "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise InvalidArgumentError(f"Embedding {self.name!r}: {arg} must be a positive int, got {value!r}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = get_initializer(embeddings_initializer, self, "embeddings_initializer")
        self.embeddings_regularizer = get_regularizer(embeddings_regularizer, self, "embeddings_regularizer")
        self.embeddings_constraint = get_constraint(embeddings_constraint, self, "embeddings_constraint")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.integer, np.floating)) \
                or not 0.0 <= dropout < 1.0:
            raise InvalidArgumentError(f"Embedding {self.name!r}: dropout must be a float in [0, 1), got {dropout!r}")
        self.mask_zero, self.input_length, self.dropout = bool(mask_zero), input_length, float(dropout)
        self.supports_masking = self.mask_zero

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, self.embeddings_regularizer,
                                          self.embeddings_constraint)
        self.built = True

    def check_input_shape(self, input_shape):
        if self.input_length is not None and len(input_shape) > 1 and input_shape[1] not in (None, self.input_length):
            raise InvalidArgumentError(f"Embedding {self.name!r}: input_length is {self.input_length}, "
                                       f"got input of shape {tuple(input_shape)}")

    def call(self, inputs, training=None):
        if K.ndim(inputs) and K.int_shape(inputs)[0]:
            K.host_check(inputs, self._check_indices)
        if K.dtype(inputs).startswith("float"):
            inputs = K.cast(inputs, "int64")
        vectors = K.gather(self.embeddings, inputs)
        if self.dropout > 0.0 and K.in_train_phase(True, False, training):
            return vectors * K.gather(self.word_mask(), inputs)
        return vectors

    def word_mask(self):
        """Keras 1 word dropout: one (input_dim, 1) mask per call, so a dropped word id is zero everywhere."""
        return K.dropout_mask((self.input_dim, 1), self.dropout, K.dtype(self.embeddings), self.next_seed)

    def _check_indices(self, values: np.ndarray) -> None:
        """Indices are whole numbers (3.0 is index 3, as Keras; 1.5 or nan is an error, not a cut) in [0, input_dim)."""
        if values.dtype.kind == "f":
            bad = values[~(np.isfinite(values) & (np.floor(values) == values))] if values.size else values
            if bad.size:
                raise InvalidArgumentError(f"Embedding {self.name!r}: indices must be integers (whole floats such "
                                           f"as 3.0 are accepted), got {bad.size} non-integral value(s) such as "
                                           f"{float(bad[0])!r}")
        if values.size:
            low, high = int(values.min()), int(values.max())
            if low < 0 or high >= self.input_dim:
                raise InvalidArgumentError(f"Embedding {self.name!r}: indices must be in [0, {self.input_dim}), "
                                           f"got values from {low} to {high}")

    def compute_mask(self, inputs, mask=None):
        return K.not_equal(inputs, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        extra = {"dropout": self.dropout} if self.dropout else {}  # a Keras 1 option: absent when off, as tf.keras
        return dict(super().get_config(), **extra, input_dim=self.input_dim, output_dim=self.output_dim,
                    embeddings_initializer=initializers.serialize(self.embeddings_initializer),
                    embeddings_regularizer=regularizers.serialize(self.embeddings_regularizer),
                    embeddings_constraint=constraints.serialize(self.embeddings_constraint),
                    mask_zero=self.mask_zero, input_length=self.input_length)
