"""Random draws come from the host generator: the same seed gives the same bits on every backend."""
import numpy as np
import pytest

from multirnn import backends
from multirnn.backends import host_random

DRAWS = {
    "random_uniform": lambda K, dtype, seed: K.random_uniform((4, 5), -0.5, 2.0, dtype=dtype, seed=seed),
    "random_normal": lambda K, dtype, seed: K.random_normal((4, 5), 1.0, 3.0, dtype=dtype, seed=seed),
    "truncated_normal": lambda K, dtype, seed: K.truncated_normal((4, 5), 0.0, 0.5, dtype=dtype, seed=seed),
    "random_binomial": lambda K, dtype, seed: K.random_binomial((4, 5), 0.3, dtype=dtype, seed=seed),
    "dropout_mask": lambda K, dtype, seed: K.dropout_mask((4, 5), 0.4, dtype=dtype, seed=seed),
    "dropout": lambda K, dtype, seed: K.dropout(K.constant(_data(dtype), dtype), 0.4, seed=seed),
    "dropout_noise_shape": lambda K, dtype, seed: K.dropout(K.constant(_data(dtype), dtype), 0.4, (4, 1), seed),
}


def _data(dtype):
    return np.random.default_rng(0).normal(size=(4, 5)).astype(dtype)


@pytest.fixture
def NP():
    return backends.get("numpy")


@pytest.fixture(autouse=True)
def _keep_global_seed():
    saved = dict(host_random._state)
    yield
    host_random._state.update(saved)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("draw", sorted(DRAWS))
def test_same_seed_same_bits_on_every_backend(K, NP, draw, dtype):
    got = K.to_numpy(DRAWS[draw](K, dtype, 42))
    want = DRAWS[draw](NP, dtype, 42)
    assert got.dtype == np.dtype(dtype) and got.shape == (4, 5)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("draw", sorted(DRAWS))
def test_global_seed_reproduces_the_sequence(K, NP, draw):
    host_random.set_seed(1234)
    first = [K.to_numpy(DRAWS[draw](K, "float32", None)) for _ in range(3)]
    host_random.set_seed(1234)
    again = [K.to_numpy(DRAWS[draw](K, "float32", None)) for _ in range(3)]
    host_random.set_seed(1234)
    reference = [DRAWS[draw](NP, "float32", None) for _ in range(3)]
    assert all(np.array_equal(a, b) and np.array_equal(a, r) for a, b, r in zip(first, again, reference))
    assert not np.array_equal(first[0], first[1])


@pytest.mark.parametrize("draw", sorted(DRAWS))
def test_different_seeds_differ(K, draw):
    a, b = (K.to_numpy(DRAWS[draw](K, "float64", seed)) for seed in (1, 2))
    assert not np.array_equal(a, b)
    host_random.set_seed(5)
    c = K.to_numpy(DRAWS[draw](K, "float64", None))
    host_random.set_seed(6)
    assert not np.array_equal(c, K.to_numpy(DRAWS[draw](K, "float64", None)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_truncated_normal_stays_within_two_std(K, dtype):
    x = K.to_numpy(K.truncated_normal((200, 50), mean=1.0, stddev=0.5, dtype=dtype, seed=3))
    assert x.min() >= 0.0 and x.max() <= 2.0
    assert abs(x.mean() - 1.0) < 0.02 and 0.4 < x.std() < 0.5  # truncation narrows the spread to ~0.44


def test_binomial_and_dropout_values(K):
    mask = K.to_numpy(K.dropout_mask((100, 100), 0.25, dtype="float64", seed=9))
    assert set(np.unique(mask)) == {0.0, 1 / 0.75} and abs((mask == 0).mean() - 0.25) < 0.02
    ones = K.to_numpy(K.random_binomial((100, 100), 1.0, seed=9))
    assert np.array_equal(ones, np.ones((100, 100))) and not K.to_numpy(K.random_binomial((3,), 0.0)).any()


def test_dropout_level_zero_is_identity(K):
    x = K.constant(_data("float32"))
    assert K.dropout(x, 0.0) is x and K.dropout(x, 0, noise_shape=(4, 1)) is x


@pytest.mark.parametrize("level", [-0.1, 1.0, 1.5])
def test_dropout_level_outside_unit_interval_raises(K, level):
    x = K.ones((2, 3))
    with pytest.raises(ValueError, match=r"level must be in \[0, 1\)"):
        K.dropout(x, level)
    with pytest.raises(ValueError, match=r"level must be in \[0, 1\)"):
        K.dropout_mask((2, 3), level)


def test_noise_shape_broadcasts(K):
    x = K.ones((3, 4, 5), "float64")
    rows = K.to_numpy(K.dropout(x, 0.5, noise_shape=(3, 1, 5), seed=0))
    assert np.array_equal(rows, np.broadcast_to(rows[:, :1, :], rows.shape))
    per_sample = K.to_numpy(K.dropout(x, 0.5, noise_shape=(None, 1, 1), seed=0))
    assert np.array_equal(per_sample, np.broadcast_to(per_sample[:, :1, :1], per_sample.shape))
    np.testing.assert_array_equal(K.to_numpy(K.dropout(x, 0.5, noise_shape=(None, 1, None), seed=0)), rows)
    with pytest.raises(ValueError, match="noise_shape"):
        K.dropout(x, 0.5, noise_shape=(3, 1))
