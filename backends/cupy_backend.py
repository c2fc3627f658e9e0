"""The CuPy backend: the NumPy backend's code on `xp = cupy`, plus host <-> device transfers.

Every primitive and VJP is inherited; only what touches host memory is overridden.
"""
import numpy

from . import frameworks
from .numpy_backend import NumpyBackend
from .tape import _plain


class CupyBackend(NumpyBackend):
    name = "cupy"

    def __init__(self, cupy_module) -> None:
        """`cupy_module` is the imported `cupy` (it becomes `xp`)."""
        self.xp = cupy_module

    def _to_device(self, value, dtype):
        """`value` (host array, scalar, list or device array) as a device array of `dtype`."""
        value = _plain(value)
        if isinstance(value, self.xp.ndarray):
            return value.astype(dtype, copy=False)
        if isinstance(value, (numpy.ndarray, numpy.generic, int, float, bool)):
            value = numpy.asarray(value, dtype=dtype)  # cast on the host: one copy, fewer bytes
        return self.xp.asarray(value, dtype=dtype)

    def variable(self, value, dtype=None, name=None):
        return super().variable(self._to_device(value, self._dtype(dtype)), dtype, name)

    def constant(self, value, dtype=None, shape=None):
        return super().constant(self._to_device(value, self._dtype(dtype)), dtype, shape)

    def set_value(self, var, value) -> None:
        super().set_value(var, self._to_device(value, var.value.dtype))

    def to_numpy(self, x) -> numpy.ndarray:
        return self.xp.asnumpy(_plain(x))

    def one_hot(self, indices, num_classes, dtype=None):
        """Labels often come from the host; index on the device."""
        return super().one_hot(self.xp.asarray(_plain(indices)), num_classes, dtype)


def create() -> CupyBackend:
    cupy = frameworks.require("cupy")
    if frameworks.cuda_device_count() == 0:
        raise RuntimeError("The cupy backend needs a CUDA device, but CuPy found none (no visible GPU "
                           "or no working CUDA driver); choose another backend with MULTIRNN_BACKEND")
    return CupyBackend(cupy)
