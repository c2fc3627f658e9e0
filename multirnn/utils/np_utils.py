"""Keras 1's `keras.utils.np_utils`: `to_categorical` (with its `nb_classes=` spelling)."""
from typing import Optional

import numpy as np

from multirnn import utils
from multirnn.keras1 import keras1_aliases


@keras1_aliases({"nb_classes": "num_classes"})
def to_categorical(y, num_classes: Optional[int] = None, dtype: str = "float32") -> np.ndarray:
    """Integer class labels to one-hot rows (`multirnn.utils.to_categorical`)."""
    return utils.to_categorical(y, num_classes, dtype)
