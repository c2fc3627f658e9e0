"""Keras 1 argument spellings: one rule for every layer, model, optimizer and training method.

`@keras1_aliases({"output_dim": "units", "consume_less": ("implementation", convert)})` lets a
function take the old names; a converter turns the old value into the new one. Giving both
spellings of one argument, by keyword or by position, is a `TypeError` with one message.
"""
import functools
import inspect
from typing import Callable, Mapping, Tuple, Union

Alias = Union[str, Tuple[str, Callable]]
_NO_DEFAULT = object()

# Spellings every layer accepts, after the layer's own.
LAYER_ALIASES = {
    "init": "kernel_initializer", "inner_init": "recurrent_initializer",
    "inner_activation": "recurrent_activation", "W_regularizer": "kernel_regularizer",
    "U_regularizer": "recurrent_regularizer", "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint", "U_constraint": "recurrent_constraint",
    "b_constraint": "bias_constraint", "dropout_W": "dropout", "dropout_U": "recurrent_dropout",
    "bias": "use_bias",
}


def both_spellings(owner: str, old: str, new: str) -> str:
    """The one message for an argument given in both spellings."""
    return f"{owner}: got both {old!r} (Keras 1) and {new!r} (Keras 2); give only one"


def rename(owner: str, kwargs: dict, aliases: Mapping[str, Alias], given=(), defaults=None) -> dict:
    """`kwargs` with Keras 1 names replaced (values converted); `given` names the Keras 2 arguments passed
    by position. A keyword holding its parameter's sentinel default (`defaults`) counts as not given."""
    out, defaults = dict(kwargs), defaults or {}
    for old, target in aliases.items():
        if old not in out:
            continue
        new, convert = (target, None) if isinstance(target, str) else target
        if (new in out and not _unset(out[new], defaults.get(new, _NO_DEFAULT))) or new in given:
            raise TypeError(both_spellings(owner, old, new))
        value = out.pop(old)
        out[new] = convert(value, owner) if convert is not None else value
    return out


def _unset(value, default) -> bool:
    """A value that is its parameter's sentinel default (a bare `object()`, as optimizers' UNSET)."""
    return value is default and type(default) is object


def _owner(fn, args) -> str:
    """How the error names the call: the class for a constructor, `owner.method` for a method."""
    if not args or "." not in fn.__qualname__:
        return fn.__qualname__
    if fn.__name__ == "__init__":
        return type(args[0]).__name__
    return f"{getattr(args[0], 'owner', type(args[0]).__name__)}.{fn.__name__}"


def keras1_aliases(aliases: Mapping[str, Alias]):
    """Decorate a function (or method) so that it accepts the Keras 1 names in `aliases`."""
    def decorate(fn):
        signature = inspect.signature(fn)
        defaults = {name: p.default for name, p in signature.parameters.items() if p.default is not p.empty}

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if any(old in kwargs for old in aliases):
                params = signature.parameters
                given = {name for name, value in signature.bind_partial(*args).arguments.items()
                         if not _unset(value, params[name].default)}
                kwargs = rename(_owner(fn, args), kwargs, aliases, given, defaults)
            return fn(*args, **kwargs)
        return wrapper
    return decorate
