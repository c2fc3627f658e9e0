"""Training trajectories agree across backends: same seed and data give the same weights after
an epoch (shuffled batches, dropout masks and initial weights all come from the host generator)."""
import numpy as np
import pytest
from conftest import BACKENDS

from multirnn import backends
from multirnn.backends import config, host_random
from multirnn.layers import LSTM, Dense, Dropout
from multirnn.models import Sequential

OPTIMIZERS = ["sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamax", "nadam"]
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}
X = np.random.RandomState(0).rand(8, 3, 2)
Y = np.random.RandomState(1).rand(8, 2)


def _trained_weights(name, optimizer, dropout):
    with backends.use(name):
        host_random.set_seed(11)
        model = Sequential([LSTM(3, input_shape=(3, 2), dropout=dropout, recurrent_dropout=dropout),
                            Dropout(dropout), Dense(2)])
        if optimizer == "sgd":
            from multirnn.optimizers import SGD
            optimizer = SGD(lr=0.1, momentum=0.9, nesterov=True, decay=1e-3)
        model.compile(optimizer, "mse")
        history = model.fit(X, Y, batch_size=4, epochs=1, shuffle=True, verbose=0)
        return model.get_weights(), history.history["loss"][0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("dropout", [0.0, 0.4], ids=["no_dropout", "dropout"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_one_epoch_gives_the_same_weights_on_every_backend(optimizer, dropout, dtype):
    previous = config.floatx()
    config.set_floatx(dtype)
    try:
        reference, ref_loss = _trained_weights("numpy", optimizer, dropout)
        initial = None
        for name in BACKENDS[1:]:
            weights, loss = _trained_weights(name, optimizer, dropout)
            for w, r in zip(weights, reference):
                assert w.dtype == np.dtype(dtype)
                scale = max(1.0, float(np.abs(r).max()))
                diff = float(np.abs(w.astype(np.float64) - r).max())
                assert diff <= TOLERANCE[dtype] * scale, f"{name} vs numpy: {diff:.3g}"
            assert abs(loss - ref_loss) <= TOLERANCE[dtype] * max(1.0, abs(ref_loss))
        with backends.use("numpy"):
            host_random.set_seed(11)
            initial = Sequential([LSTM(3, input_shape=(3, 2)), Dropout(0.0), Dense(2)]).get_weights()
        assert any(not np.allclose(a, b) for a, b in zip(initial, reference)), "training changed nothing"
    finally:
        config.set_floatx(previous)


def test_dropout_changes_the_trajectory():
    with_dropout, _ = _trained_weights("numpy", "adam", 0.4)
    without, _ = _trained_weights("numpy", "adam", 0.0)
    assert any(not np.allclose(a, b) for a, b in zip(with_dropout, without))


def test_same_seed_same_shuffled_batches():
    order = []
    for _ in range(2):
        host_random.set_seed(5)
        from multirnn.models.data import batch_indices
        order.append(np.concatenate(batch_indices(10, 3, True)))
    np.testing.assert_array_equal(order[0], order[1])
    assert sorted(order[0]) == list(range(10)) and list(order[0]) != list(range(10))
