"""Default learning rates: tf_keras's legacy optimizers' by default (checked live), Keras 2.2's on request;
an optimizer whose two defaults differ warns once until a set is chosen."""
import warnings

import numpy as np
import pytest

from conftest import needs_tf_keras
from multirnn import optimizers
from multirnn.optimizers import defaults

NAMES = ["SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "Nadam"]
KERAS2 = {"SGD": 0.01, "RMSprop": 0.001, "Adagrad": 0.01, "Adadelta": 1.0, "Adam": 0.001, "Adamax": 0.002,
          "Nadam": 0.002}  # the Keras 2.2 docs and source (keras/optimizers.py)


@pytest.fixture
def fresh(monkeypatch):
    """No set chosen and nothing warned yet, restored afterwards."""
    monkeypatch.setattr(defaults, "_chosen", None)
    monkeypatch.setattr(defaults, "_warned", set())
    monkeypatch.delenv("MULTIRNN_OPTIMIZER_DEFAULTS", raising=False)


@needs_tf_keras
def test_defaults_are_tf_keras_legacy(fresh):
    import tf_keras
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", defaults.DefaultLearningRateWarning)
        for name in NAMES:
            theirs = float(np.float32(getattr(tf_keras.optimizers.legacy, name)().learning_rate.numpy()))
            ours = optimizers.get(name.lower()).learning_rate
            assert ours == pytest.approx(theirs, rel=1e-6), name
    assert defaults.default_learning_rates() == "tf_keras"


def test_keras2_defaults_on_request(fresh):
    assert optimizers.set_default_learning_rates("keras2") == "tf_keras"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a chosen set warns no more
        assert {n: optimizers.get(n.lower()).learning_rate for n in NAMES} == KERAS2
        assert optimizers.Adadelta(learning_rate=0.5).learning_rate == 0.5
    assert optimizers.set_default_learning_rates("tf_keras") == "keras2"
    assert optimizers.Adadelta().learning_rate == 0.001
    with pytest.raises(ValueError, match="'tf_keras', 'keras2'"):
        optimizers.set_default_learning_rates("keras3")


def test_environment_variable_chooses(fresh, monkeypatch):
    monkeypatch.setenv("MULTIRNN_OPTIMIZER_DEFAULTS", "keras2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert optimizers.get("adadelta").learning_rate == 1.0
    monkeypatch.setenv("MULTIRNN_OPTIMIZER_DEFAULTS", "keras1")
    with pytest.raises(ValueError, match="MULTIRNN_OPTIMIZER_DEFAULTS"):
        optimizers.Adagrad()


def test_a_default_that_differs_warns_once_naming_both(fresh):
    from multirnn.layers import Dense
    from multirnn.models import Sequential
    model = Sequential([Dense(1, input_shape=(2,))])
    with pytest.warns(defaults.DefaultLearningRateWarning, match=r"Adadelta.*0\.001.*Keras 2\.2 used 1\.0") as record:
        model.compile("adadelta", "mse")
    assert record[0].filename == __file__  # points at the user's line
    assert model.optimizer.learning_rate == 0.001
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.compile("adadelta", "mse")  # once per class
        optimizers.Adam()  # same default in both sets: no warning
        optimizers.Nadam(learning_rate=0.002)  # given: no warning
    with pytest.warns(defaults.DefaultLearningRateWarning, match="Nadam"):
        optimizers.Nadam()
