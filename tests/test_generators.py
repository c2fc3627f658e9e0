"""fit_generator, evaluate_generator, predict_generator: from generators and Sequences, with threads,
Keras 1 sample counts, validation, and the same numbers as fit/evaluate/predict on the same batches."""
import threading
import warnings

import numpy as np
import pytest
from conftest import BACKENDS

from multirnn import backends, layers, utils
from multirnn.models import Model, Sequential

RNG = np.random.RandomState(0)
X, Y = RNG.rand(40, 5, 3), RNG.rand(40, 2)
W = RNG.rand(40)


def batches(batch=8, weights=False, loop=True, count=len(X)):
    while True:
        for s in range(0, count, batch):
            yield (X[s:s + batch], Y[s:s + batch]) + ((W[s:s + batch],) if weights else ())
        if not loop:
            return


class Batches(utils.Sequence):
    def __init__(self, batch=8, count=len(X)):
        self.batch, self.count, self.epochs_ended, self.threads = batch, count, 0, set()

    def __len__(self):
        return self.count // self.batch

    def __getitem__(self, i):
        self.threads.add(threading.get_ident())
        return X[i * self.batch:(i + 1) * self.batch], Y[i * self.batch:(i + 1) * self.batch]

    def on_epoch_end(self):
        self.epochs_ended += 1


def model(backend="numpy"):
    with backends.use(backend):
        utils.set_random_seed(1)
        m = Sequential([layers.LSTM(4, input_shape=(5, 3), dropout=0.2), layers.Dense(2)])
        m.compile("adam", "mse", metrics=["mae"])
        return m


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("source, kwargs", [
    (lambda: batches(), {"steps_per_epoch": 5}),
    (lambda: batches(), {"steps_per_epoch": 5, "workers": 0}),
    (lambda: Batches(), {"shuffle": False}),
    (lambda: Batches(), {"shuffle": False, "workers": 3, "max_queue_size": 2}),
    (lambda: batches(), {"samples_per_epoch": 40}),           # Keras 1: samples, not batches
    (lambda: iter(list(batches(loop=False)) * 3), {"steps_per_epoch": 5}),
])
def test_fit_generator_trains_exactly_like_fit_on_the_same_batches(backend, source, kwargs):
    reference = model(backend)
    expected = reference.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    trained = model(backend)
    history = trained.fit_generator(source(), epochs=3, verbose=0, **kwargs).history
    assert history.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-6, err_msg=key)
    for a, b in zip(trained.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_sample_weights_from_the_generator_count_as_in_fit():
    reference = model()
    expected = reference.fit(X, Y, batch_size=8, epochs=2, shuffle=False, sample_weight=W, verbose=0).history
    history = model().fit_generator(batches(weights=True), 5, 2, verbose=0).history
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-6)


def test_sequence_passes_shuffle_with_the_seed_run_on_threads_and_end_each_epoch():
    sequence = Batches()
    m = model()
    m.fit_generator(sequence, epochs=2, verbose=0, workers=2)
    assert sequence.epochs_ended == 2
    assert threading.get_ident() not in sequence.threads
    utils.set_random_seed(5)
    first = model().fit_generator(Batches(), epochs=1, verbose=0).history["loss"]
    utils.set_random_seed(5)
    again = model().fit_generator(Batches(), epochs=1, verbose=0).history["loss"]
    in_order = model().fit_generator(Batches(), epochs=1, verbose=0, shuffle=False).history["loss"]
    assert first == again and first != in_order


def test_validation_from_a_generator_a_sequence_or_arrays():
    reference = model()
    expected = reference.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                             validation_data=(X[:16], Y[:16])).history
    for validation, extra in [((X[:16], Y[:16]), {}), (batches(count=16), {"validation_steps": 2}),
                              (batches(count=16), {"validation_steps": 2, "workers": 0}),
                              (Batches(count=16), {}), (batches(count=16), {"nb_val_samples": 16})]:
        history = model().fit_generator(batches(), 5, 3, verbose=0, validation_data=validation, **extra).history
        np.testing.assert_allclose(history["val_loss"], expected["val_loss"], rtol=1e-6)
        np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-6)


def test_evaluate_and_predict_generators_match_evaluate_and_predict():
    m = model()
    m.fit(X, Y, epochs=1, verbose=0)
    expected = m.evaluate(X, Y, batch_size=8, verbose=0)
    for source, kwargs in [(batches(), {"steps": 5}), (Batches(), {}), (batches(), {"val_samples": 40}),
                           (Batches(), {"workers": 0})]:
        np.testing.assert_allclose(m.evaluate_generator(source, **kwargs), expected, rtol=1e-6)
    predicted = m.predict(X)
    inputs_only = (x for x, _ in batches())
    for source, kwargs in [(batches(), {"steps": 5}), (inputs_only, {"val_samples": 40}), (Batches(), {})]:
        np.testing.assert_allclose(m.predict_generator(source, **kwargs), predicted, rtol=1e-6)


def test_multi_input_models_take_lists_and_dicts_from_the_generator():
    left, right = layers.Input((5, 3), name="left"), layers.Input((5, 3), name="right")
    out = layers.Dense(2)(layers.concatenate([layers.GRU(3)(left), layers.GRU(3)(right)]))
    m = Model([left, right], out)
    m.compile("sgd", "mse")
    expected = m.predict([X, X[::-1]])
    as_lists = (([x, x[::-1]], y) for x, y in batches(batch=40))
    as_dicts = ({"left": x, "right": x[::-1]} for x, _ in batches(batch=40))
    np.testing.assert_allclose(m.predict_generator(as_lists, steps=1), expected, rtol=1e-6)
    np.testing.assert_allclose(m.predict_generator(as_dicts, steps=1), expected, rtol=1e-6)
    assert np.isfinite(m.fit_generator(as_lists, steps_per_epoch=2, verbose=0).history["loss"]).all()


def test_a_generator_that_runs_out_stops_training_with_a_warning():
    m = model()
    with pytest.warns(RuntimeWarning, match=r"stopped after 2 batches, before steps_per_epoch \(5\) in epoch 2"):
        history = m.fit_generator(iter(list(batches(loop=False)) + list(batches(loop=False))[:2]),
                                  steps_per_epoch=5, epochs=4, verbose=0).history
    assert len(history["loss"]) == 2
    with pytest.raises(ValueError, match="the generator yielded no batches"):
        m.evaluate_generator(iter([]), steps=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.fit_generator(batches(), steps_per_epoch=5, verbose=0)


def test_an_error_inside_the_generator_reaches_the_caller():
    def broken():
        yield X[:8], Y[:8]
        raise KeyError("bad record 17")
    for workers in (0, 1):
        with pytest.raises(KeyError, match="bad record 17"):
            model().fit_generator(broken(), steps_per_epoch=5, verbose=0, workers=workers)


def test_bad_calls_say_what_is_wrong():
    m = model()
    with pytest.raises(ValueError, match="steps_per_epoch is required with a generator"):
        m.fit_generator(batches())
    with pytest.raises(ValueError, match=r"each batch must be a tuple \(x, y\) or \(x, y, sample_weight\), got ndarray"):
        m.fit_generator((x for x, _ in batches()), steps_per_epoch=2, verbose=0)
    with pytest.raises(TypeError, match="expected a generator, an iterator or a multirnn.utils.Sequence, got int"):
        m.fit_generator(3, steps_per_epoch=2)
    with pytest.raises(ValueError, match="use_multiprocessing=True .* not supported"):
        m.fit_generator(batches(), 5, use_multiprocessing=True)
    with pytest.raises(ValueError, match="use_multiprocessing=True"):
        m.predict_generator(batches(), 5, pickle_safe=True)
    with pytest.raises(TypeError, match="got both 'nb_epoch' \\(Keras 1\\) and 'epochs'"):
        m.fit_generator(batches(), 5, epochs=2, nb_epoch=3)
    with pytest.raises(TypeError, match="got both 'samples_per_epoch' \\(Keras 1\\) and 'steps_per_epoch' \\(Keras 2\\); give only one"):
        m.fit_generator(batches(), 5, samples_per_epoch=40)
    with pytest.raises(TypeError, match="got both 'val_samples' \\(Keras 1\\) and 'steps' \\(Keras 2\\); give only one"):
        m.evaluate_generator(batches(), 5, val_samples=40)
    with pytest.raises(ValueError, match="workers must be an int >= 0, got -1"):
        m.fit_generator(batches(), 5, workers=-1)
    with pytest.raises(ValueError, match="steps must be a positive int, got 0"):
        m.predict_generator(batches(), 0)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        m.evaluate_generator(batches(), 5, nb_epoch=3)
    fresh = Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(Exception, match="compile"):
        fresh.fit_generator(batches(), 5)


def test_progress_bar_without_a_known_step_count(capsys):
    model().fit_generator(batches(), samples_per_epoch=40, nb_epoch=1, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "5/Unknown" in out
