"""Weight constraints, applied to a weight after each optimizer update."""
from multirnn import backend as K


class Constraint:
    def get_config(self) -> dict:
        return dict(vars(self))


class MaxNorm(Constraint):
    def __init__(self, max_value=2.0, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = K.sqrt(K.sum(K.square(w), axis=self.axis, keepdims=True))
        desired = K.clip(norms, 0.0, self.max_value)
        return w * (desired / (K.epsilon() + norms))


class NonNeg(Constraint):
    def __call__(self, w):
        return w * K.cast(K.greater_equal(w, 0.0), K.dtype(w))


class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (K.epsilon() + K.sqrt(K.sum(K.square(w), axis=self.axis, keepdims=True)))


class MinMaxNorm(Constraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = K.sqrt(K.sum(K.square(w), axis=self.axis, keepdims=True))
        desired = self.rate * K.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (K.epsilon() + norms))


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm
_NAMES = {"max_norm": MaxNorm, "maxnorm": MaxNorm, "non_neg": NonNeg, "nonneg": NonNeg,
          "unit_norm": UnitNorm, "unitnorm": UnitNorm, "min_max_norm": MinMaxNorm}


def get(identifier, where: str = "constraint"):
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _NAMES:
        return _NAMES[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in {c.__name__ for c in _NAMES.values()}:
        cls = {c.__name__: c for c in _NAMES.values()}[identifier["class_name"]]
        return cls(**identifier.get("config", {}))
    raise ValueError(f"{where}: unknown constraint {identifier!r}; known: {', '.join(sorted(_NAMES))}")


def serialize(c):
    return None if c is None else {"class_name": type(c).__name__, "config": c.get_config()}
