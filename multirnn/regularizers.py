"""Weight and activity regularizers: penalties written with K, added to the training loss."""
from multirnn import backend as K


class L1L2:
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        penalty = 0.0
        if self.l1:
            penalty = penalty + self.l1 * K.sum(K.abs(x))
        if self.l2:
            penalty = penalty + self.l2 * K.sum(K.square(x))
        return penalty

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


WeightRegularizer = L1L2  # Keras 1's name (WeightRegularizer(l1=, l2=)); stored as L1L2, as Keras 2 does


def l1(value=0.01):
    return L1L2(l1=value)


def l2(value=0.01):
    return L1L2(l2=value)


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1=l1, l2=l2)


_NAMES = {"l1": l1, "l2": l2, "l1_l2": l1_l2}


def get(identifier, where: str = "regularizer"):
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _NAMES:
        return _NAMES[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in ("L1L2", "WeightRegularizer"):
        return L1L2(**identifier.get("config", {}))
    if isinstance(identifier, dict) and identifier.get("name") in ("L1L2", "WeightRegularizer"):  # Keras 1 configs
        return L1L2(**{k: v for k, v in identifier.items() if k in ("l1", "l2")})
    raise ValueError(f"{where}: unknown regularizer {identifier!r}; known: {', '.join(_NAMES)}")


def serialize(reg):
    return None if reg is None else {"class_name": type(reg).__name__, "config": reg.get_config()}
