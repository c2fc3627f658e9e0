"""multirnn's exceptions: each also derives from the matching built-in, so `except ValueError` stays portable."""


class MultirnnError(Exception):
    """The root of every error multirnn raises on purpose."""
    ag_pass_through = True  # inside a tf.function, AutoGraph re-raises it as it is (not as a StagingError)


class InvalidArgumentError(MultirnnError, ValueError):
    """A value of the right type that is not acceptable (shape, range, option)."""


class UnsafeLoadError(InvalidArgumentError):
    """Loading would import or run code from a file, and safe mode forbids it."""


class FileFormatError(InvalidArgumentError):
    """A file or JSON text that is not a readable multirnn (or Keras) file."""


class WeightMismatchError(FileFormatError):
    """Weights in a file that do not fit the model they are loaded into (count, shape or dtype)."""


class ShapeError(InvalidArgumentError):
    """Tensor shapes that do not fit together (broadcasting, contraction, concatenation, reshape)."""


class AxisError(InvalidArgumentError, IndexError):
    """An axis outside a tensor's rank; also an IndexError, as NumPy's own AxisError is."""


class IndexOutOfRangeError(InvalidArgumentError, IndexError):
    """An index or class label outside its valid range."""


class ArgumentTypeError(MultirnnError, TypeError):
    """An argument of the wrong type (an axis that is not an int)."""


class DTypeError(ArgumentTypeError):
    """A tensor of a dtype the operation cannot take (labels that are not numbers)."""


class DistributedError(MultirnnError, RuntimeError):
    """Data-parallel training that cannot go on: no process group, ranks that differ, a rank that stopped."""
