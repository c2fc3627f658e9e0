"""Optimizers written once against K, with the Keras 2 (tf_keras legacy) update formulas.

`get('adam')`, `Adam(learning_rate=0.001)` (Keras 1: `lr=`), `serialize`/`deserialize`. Default learning
rates are tf_keras's; `set_default_learning_rates('keras2')` gives Keras 2.2's (Adagrad 0.01, Adadelta 1.0,
Adamax and Nadam 0.002), see defaults.py.
"""
from multirnn.optimizers.algorithms import SGD, Adadelta, Adagrad, Adam, Adamax, Nadam, RMSprop
from multirnn.optimizers.base import Optimizer
from multirnn.optimizers.defaults import DefaultLearningRateWarning, default_learning_rates, set_default_learning_rates

_CLASSES = {c.__name__.lower(): c for c in (SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam)}


def serialize(optimizer: Optimizer) -> dict:
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict, custom_objects=None) -> Optimizer:
    """An optimizer from `serialize`'s {'class_name', 'config'}."""
    classes = dict(_CLASSES, **{k.lower(): v for k, v in (custom_objects or {}).items()})
    name = str(config.get("class_name", "")).lower()
    if name not in classes:
        raise ValueError(f"Unknown optimizer class {config.get('class_name')!r}; known: {', '.join(sorted(_CLASSES))}")
    return classes[name].from_config(dict(config.get("config", {})))


def get(identifier) -> Optimizer:
    """An optimizer from a name ('sgd', 'rmsprop', 'adagrad', 'adadelta', 'adam', 'adamax',
    'nadam'; any case, default settings), an Optimizer object, or a serialized dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier.lower() not in _CLASSES:
            raise ValueError(f"Unknown optimizer {identifier!r}; known: {', '.join(sorted(_CLASSES))}")
        return _CLASSES[identifier.lower()]()
    raise TypeError(f"optimizer: expected a name, an Optimizer or a config dict, got {identifier!r}")
