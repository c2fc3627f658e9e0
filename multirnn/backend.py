"""`from multirnn import backend as K`: every attribute is the backend in force's own method."""
from multirnn import backends as _backends


def __getattr__(name: str):
    return getattr(_backends.current(), name)


def __dir__():
    return sorted(n for n in dir(_backends.current()) if not n.startswith("_"))
