"""multirnn's exceptions: each also derives from the matching built-in, so `except ValueError` stays portable."""


class MultirnnError(Exception):
    """The root of every error multirnn raises on purpose."""


class InvalidArgumentError(MultirnnError, ValueError):
    """A value of the right type that is not acceptable (shape, range, option)."""


class UnsafeLoadError(InvalidArgumentError):
    """Loading would import or run code from a file, and safe mode forbids it."""


class FileFormatError(InvalidArgumentError):
    """A file or JSON text that is not a readable multirnn (or Keras) file."""
