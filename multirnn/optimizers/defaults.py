"""The default learning rates: tf_keras's legacy optimizers' (the reference, DESIGN.md §4) or Keras 2.2's.

They differ for Adagrad (0.001 / 0.01), Adadelta (0.001 / 1.0), Adamax and Nadam (0.001 / 0.002). Until a
set is chosen (`set_default_learning_rates`, or `MULTIRNN_OPTIMIZER_DEFAULTS=tf_keras|keras2`), tf_keras's
apply and an optimizer whose two defaults differ warns once, when it is made without a learning rate.
"""
import os
import sys
import warnings

STYLES = ("tf_keras", "keras2")
_ENV = "MULTIRNN_OPTIMIZER_DEFAULTS"
_chosen = None     # the set chosen in this process, None until then
_warned = set()    # optimizer classes already warned about
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class DefaultLearningRateWarning(UserWarning):
    """An optimizer took a default learning rate on which tf_keras and Keras 2.2 disagree."""


def _check(style, where: str) -> str:
    if style not in STYLES:
        raise ValueError(f"{where}: expected one of {', '.join(map(repr, STYLES))}, got {style!r}")
    return style


def set_default_learning_rates(style: str) -> str:
    """Choose the default learning rates of optimizers made from now on ('tf_keras' or 'keras2'); returns
    the previous choice. Choosing silences the warning about the defaults that differ."""
    global _chosen
    previous = default_learning_rates()
    _chosen = _check(style, "set_default_learning_rates")
    return previous


def default_learning_rates() -> str:
    """The set in force: the one chosen, else $MULTIRNN_OPTIMIZER_DEFAULTS, else 'tf_keras'."""
    if _chosen is not None:
        return _chosen
    env = os.environ.get(_ENV)
    return _check(env, f"${_ENV}") if env else "tf_keras"


def default_lr(cls) -> float:
    """The default learning rate of optimizer class `cls` (its `default_lrs`: tf_keras's, then Keras 2.2's)."""
    tf_keras, keras2 = cls.default_lrs
    style = default_learning_rates()
    chosen = _chosen is not None or bool(os.environ.get(_ENV))
    if tf_keras != keras2 and not chosen and cls not in _warned:
        _warned.add(cls)
        warnings.warn(f"{cls.__name__}: no learning_rate given, so it is {tf_keras} (tf_keras's default); Keras 2.2 "
                      f"used {keras2}. Pass learning_rate=, or call multirnn.optimizers.set_default_learning_rates"
                      f"('keras2' or 'tf_keras') (or set ${_ENV}) to choose the defaults and silence this warning.",
                      DefaultLearningRateWarning, stacklevel=_caller_level())
    return tf_keras if style == "tf_keras" else keras2


def _caller_level() -> int:
    """The stack level of the first frame outside multirnn, so that the warning names the user's line."""
    frame, level = sys._getframe(2), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
