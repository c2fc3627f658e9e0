"""Weight initializers. Each draws on the host (NumPy, float64) from the shared Philox
generator, so the same seed gives bit-identical weights on every backend."""
import math

import numpy as np

from multirnn import backend as K


class Initializer:
    seed = None

    def __call__(self, shape, seed=None) -> np.ndarray:
        raise NotImplementedError

    def _seed(self, seed):
        return self.seed if self.seed is not None else seed

    def get_config(self) -> dict:
        return {k: v for k, v in vars(self).items()}


class Zeros(Initializer):
    def __call__(self, shape, seed=None):
        return np.zeros(shape)


class Ones(Initializer):
    def __call__(self, shape, seed=None):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, seed=None):
        return np.full(shape, self.value, dtype=np.float64)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, seed=None):
        return K.host_random.uniform(shape, self.minval, self.maxval, self._seed(seed))


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, seed=None):
        return K.host_random.normal(shape, self.mean, self.stddev, self._seed(seed))


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, seed=None):
        return K.host_random.truncated_normal(shape, self.mean, self.stddev, self._seed(seed))


def _fans(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(Initializer):
    """Scale / fan (fan_in, fan_out or their average), uniform or truncated normal (as tf.keras)."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be fan_in, fan_out or fan_avg, got {mode!r}")
        if distribution not in ("uniform", "truncated_normal", "normal", "untruncated_normal"):
            raise ValueError(f"VarianceScaling: unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, seed=None):
        fan_in, fan_out = _fans(tuple(shape))
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        seed = self._seed(seed)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return K.host_random.uniform(shape, -limit, limit, seed)
        if self.distribution == "truncated_normal":
            return K.host_random.truncated_normal(shape, 0.0, math.sqrt(variance) / 0.87962566103423978, seed)
        return K.host_random.normal(shape, 0.0, math.sqrt(variance), seed)


class Orthogonal(Initializer):
    """A random orthogonal matrix (QR of a normal draw, signs fixed), times `gain`."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, seed=None):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer needs a shape of rank >= 2, got {tuple(shape)}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = K.host_random.normal((max(rows, cols), min(rows, cols)), 0.0, 1.0, self._seed(seed))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)


class Identity(Initializer):
    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, seed=None):
        if len(shape) != 2:
            raise ValueError(f"Identity initializer needs a 2D shape, got {tuple(shape)}")
        return self.gain * np.eye(*shape)


def glorot_uniform(seed=None):
    return VarianceScaling(1.0, "fan_avg", "uniform", seed)


def glorot_normal(seed=None):
    return VarianceScaling(1.0, "fan_avg", "truncated_normal", seed)


def he_uniform(seed=None):
    return VarianceScaling(2.0, "fan_in", "uniform", seed)


def he_normal(seed=None):
    return VarianceScaling(2.0, "fan_in", "truncated_normal", seed)


def lecun_uniform(seed=None):
    return VarianceScaling(1.0, "fan_in", "uniform", seed)


def lecun_normal(seed=None):
    return VarianceScaling(1.0, "fan_in", "truncated_normal", seed)


_NAMES = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "uniform": RandomUniform, "random_uniform": RandomUniform,
    "normal": RandomNormal, "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal, "he_uniform": he_uniform,
    "he_normal": he_normal, "lecun_uniform": lecun_uniform, "lecun_normal": lecun_normal,
    "orthogonal": Orthogonal, "identity": Identity, "variance_scaling": VarianceScaling,
}


def get(identifier, where: str = "initializer"):
    """An initializer from a name, an object, a bare Initializer class or a callable `(shape) -> array`."""
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _NAMES:
            raise ValueError(f"{where}: unknown initializer {identifier!r}; known: {', '.join(sorted(_NAMES))}")
        return _NAMES[key]()
    if isinstance(identifier, dict):
        return serialize_get(identifier, where)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()  # a bare class, as tf.keras accepts `tf.ones_initializer`
    if callable(identifier):
        return identifier
    raise TypeError(f"{where}: expected an initializer name or object, got {identifier!r}")


def serialize(init) -> dict:
    """{'class_name', 'config'} for get_config; named factories come back as VarianceScaling."""
    return {"class_name": type(init).__name__, "config": init.get_config() if isinstance(init, Initializer) else {}}


def serialize_get(config: dict, where: str = "initializer"):
    cls = globals().get(config.get("class_name"))
    if not (isinstance(cls, type) and issubclass(cls, Initializer)):
        raise ValueError(f"{where}: unknown initializer class {config.get('class_name')!r}")
    return cls(**config.get("config", {}))
