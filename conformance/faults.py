"""Test-only fault injection: perturb one method of one backend object, to prove the suite notices.

The wrapper lives on the backend instance (an attribute that shadows the class method), so
the backend's code is untouched and the original comes back when the block ends.
"""
import contextlib
from typing import Iterator

from multirnn import backends


@contextlib.contextmanager
def perturb(backend_name: str, method: str = "sigmoid", relative: float = 1e-8) -> Iterator[None]:
    """Within the block, `K.<method>(x)` on `backend_name` returns its result times (1 + relative)."""
    backend = backends.get(backend_name)
    if method in vars(backend):
        raise RuntimeError(f"{backend_name}.{method} is already wrapped")
    original = getattr(backend, method)

    def perturbed(*args, **kwargs):
        return original(*args, **kwargs) * (1.0 + relative)
    raw = getattr(original, "__wrapped__", None)
    if raw is not None:  # code that calls the raw primitive (e.g. a VJP) keeps the unperturbed one
        perturbed.__wrapped__ = raw
    setattr(backend, method, perturbed)
    try:
        yield
    finally:
        delattr(backend, method)
