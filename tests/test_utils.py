"""multirnn.utils: the global seed, to_categorical, pad_sequences (against tf_keras), plot_history."""
import builtins
import importlib.util

import numpy as np
import pytest

from conftest import BACKENDS, needs_tf_keras
from multirnn import backends, layers, utils


def test_set_random_seed_gives_same_weights_everywhere():
    weights = {}
    for name in BACKENDS:
        with backends.use(name) as K:
            utils.set_random_seed(123)
            first = layers.Dense(4)
            first(K.constant(np.ones((1, 3))))
            second = layers.Dense(4)
            second(K.constant(np.ones((1, 3))))
            weights[name] = first.get_weights() + second.get_weights()
    reference = weights[BACKENDS[0]]
    assert not np.array_equal(reference[0], reference[2])
    for name, ws in weights.items():
        for a, b in zip(ws, reference):
            np.testing.assert_array_equal(a.astype(np.float32), b.astype(np.float32), err_msg=name)
    with pytest.raises(ValueError, match="non-negative int"):
        utils.set_random_seed(-1)


def test_to_categorical():
    out = utils.to_categorical([0, 2, 1, 2])
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1, 2]])
    assert out.dtype == np.float32
    assert utils.to_categorical([[1], [0]], num_classes=4).shape == (2, 4)  # trailing axis of 1 dropped
    assert utils.to_categorical(np.zeros((2, 5), int), 3).shape == (2, 5, 3)
    assert utils.to_categorical([1.0, 0.0]).dtype == np.float32
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        utils.to_categorical([0, 2], num_classes=2)
    with pytest.raises(ValueError, match="integers"):
        utils.to_categorical([0.5])


@needs_tf_keras
@pytest.mark.parametrize("kwargs", [
    {}, {"maxlen": 3}, {"maxlen": 3, "padding": "post"}, {"maxlen": 3, "truncating": "post"},
    {"maxlen": 6, "padding": "post", "truncating": "post", "value": -1}, {"dtype": "float32", "value": 0.5},
])
def test_pad_sequences_matches_tf_keras(kwargs):
    from tf_keras.preprocessing.sequence import pad_sequences
    sequences = [[1, 2, 3, 4], [5], [], [6, 7, 8, 9, 10]]
    np.testing.assert_array_equal(utils.pad_sequences(sequences, **kwargs), pad_sequences(sequences, **kwargs))
    assert utils.pad_sequences(sequences, **kwargs).dtype == pad_sequences(sequences, **kwargs).dtype


def test_pad_sequences_vectors_and_errors():
    seqs = [np.ones((2, 3)), np.zeros((4, 3))]
    out = utils.pad_sequences(seqs, dtype="float32")
    assert out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out[0, :2], 0)
    np.testing.assert_array_equal(out[0, 2:], 1)
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'"):
        utils.pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="items of shape"):
        utils.pad_sequences([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="dtype=object"):
        utils.pad_sequences([["a"]], value="x")
    assert utils.pad_sequences([]).shape == (0, 0)


class _History:
    history = {"loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.7, 0.4], "acc": [0.5, 0.7, 0.9]}


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed")
def test_plot_history_writes_png(tmp_path):
    path = utils.plot_history(_History(), str(tmp_path / "history.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="non-empty dict"):
        utils.plot_history({}, str(tmp_path / "empty.png"))


def test_plot_history_without_matplotlib(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.split(".")[0] == "matplotlib":
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        utils.plot_history(_History(), str(tmp_path / "h.png"))
