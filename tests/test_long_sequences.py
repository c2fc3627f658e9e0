"""Long sequences train on every backend, in time and memory linear in the number of timesteps."""
import time
import tracemalloc

import numpy as np
import pytest
from conftest import BACKENDS

from multirnn import backend as K
from multirnn import backends
from multirnn.backends import host_random
from multirnn.layers import LSTM, Dense, SimpleRNN
from multirnn.models import Sequential


@pytest.fixture(autouse=True)
def _keep_stream():
    saved = dict(host_random._state)
    yield
    host_random._state.update(saved)


def _model(layer, units, features):
    host_random.set_seed(0)
    model = Sequential([layer(units, input_shape=(None, features)), Dense(1)])
    model.compile("sgd", "mse")
    return model


def _data(batch, steps, features):
    rng = np.random.RandomState(steps)
    return rng.rand(batch, steps, features).astype("float32"), rng.rand(batch, 1).astype("float32")


def _train_once(model, steps, batch=2, features=2):
    """One train_on_batch on `steps` timesteps; the loss and the CPU seconds it took."""
    x, y = _data(batch, steps, features)
    start = time.process_time()
    loss = model.train_on_batch(x, y)
    return float(np.asarray(loss).ravel()[0]), time.process_time() - start


def _peak_bytes(model, steps, batch, features) -> int:
    x, y = _data(batch, steps, features)
    tracemalloc.start()
    try:
        model.train_on_batch(x, y)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", BACKENDS)
def test_ten_thousand_timesteps_train_in_linear_time(name):
    with backends.use(name):
        model = _model(LSTM, 3, 2)
        _train_once(model, 10)
        before = [w.copy() for w in model.get_weights()]
        _, short = _train_once(model, 1_000)
        loss, long = _train_once(model, 10_000)
        after = model.get_weights()
    assert np.isfinite(loss)
    assert all(np.isfinite(w).all() for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(after, before)), "training changed nothing"
    assert long < 25 * max(short, 0.01), f"{name}: 10x the timesteps took {long / max(short, 1e-9):.1f}x the time"


def test_ten_thousand_timesteps_on_the_generic_tape():
    with backends.use("numpy"), K.use_fast_paths(False):
        model = _model(SimpleRNN, 3, 2)
        loss, _ = _train_once(model, 10_000)
    assert np.isfinite(loss) and all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize("layer, fast", [(LSTM, True), (SimpleRNN, False)], ids=["lstm-fused", "simple_rnn-tape"])
def test_training_memory_grows_linearly_in_the_timesteps(layer, fast):
    with backends.use("numpy"), K.use_fast_paths(fast):
        model = _model(layer, 32, 8)
        _peak_bytes(model, 10, 16, 8)
        short, long = (_peak_bytes(model, steps, 16, 8) for steps in (2_000, 4_000))
    assert long / short < 2.3, f"peak {short} B at 2,000 steps, {long} B at 4,000"
