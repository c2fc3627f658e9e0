"""Threads and asyncio tasks each keep their own random stream and backend: a job that seeds itself
gives bit-identical weights whether it runs alone or beside other threads doing the same."""
import asyncio
import contextvars
import sys
import threading

import numpy as np
import pytest
from conftest import BACKENDS

from multirnn import backends, callbacks, utils
from multirnn.backends import host_random
from multirnn.layers import LSTM, Dense
from multirnn.models import Sequential

X = np.random.RandomState(0).rand(6, 5, 2)
Y = np.random.RandomState(1).rand(6, 2)
INHERITS = bool(getattr(sys.flags, "thread_inherit_context", 0))


@pytest.fixture(autouse=True)
def _keep_stream():
    saved = dict(host_random._state)
    yield
    host_random._state.update(saved)


def _job(name, seed, barrier=None):
    """Seed, build a small LSTM with both dropouts, fit 2 shuffled epochs; the weights."""
    with backends.use(name):
        if barrier is not None:
            barrier.wait()
        utils.set_random_seed(seed)
        model = Sequential([LSTM(3, input_shape=(5, 2), dropout=0.3, recurrent_dropout=0.3), Dense(2)])
        model.compile("adam", "mse")
        if barrier is not None:
            barrier.wait()  # every thread has its initial weights: training now overlaps
        model.fit(X, Y, batch_size=2, epochs=2, shuffle=True, verbose=0)
        return model.get_weights()


def _in_threads(target, args_per_thread):
    results, errors = [None] * len(args_per_thread), []

    def run(i, args):
        try:
            results[i] = target(*args)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, a), daemon=True) for i, a in enumerate(args_per_thread)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def _same(a, b) -> bool:
    return len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("threads", [2, 4])
@pytest.mark.parametrize("name", BACKENDS)
def test_seeded_jobs_in_threads_match_the_job_alone(name, threads):
    seeds = [7, 8, 7, 9][:threads]  # with four, two threads share a seed: their numbers are still their own
    alone = {seed: _job(name, seed) for seed in set(seeds)}
    barrier = threading.Barrier(threads, timeout=30)
    got = _in_threads(_job, [(name, seed, barrier) for seed in seeds])
    for seed, weights in zip(seeds, got):
        assert _same(weights, alone[seed]), f"seed {seed} on {name}: a thread's weights differ from the job alone"
    assert not _same(alone[seeds[0]], alone[seeds[-1]])


def test_seeding_a_thread_leaves_the_main_stream_alone():
    host_random.set_seed(3)
    first = host_random.uniform((4,), 0, 1)
    _in_threads(lambda: (host_random.set_seed(99), host_random.uniform((50,), 0, 1)), [()] * 2)
    second = host_random.uniform((4,), 0, 1)
    host_random.set_seed(3)
    assert np.array_equal(first, host_random.uniform((4,), 0, 1))
    assert np.array_equal(second, host_random.uniform((4,), 0, 1))


@pytest.mark.skipif(INHERITS, reason="this Python copies the context into new threads")
def test_a_new_thread_starts_unseeded_and_on_the_default_backend():
    host_random.set_seed(5)
    seen = _in_threads(lambda: (dict(host_random._state), backends.current().name), [()])[0]
    with backends.use("torch" if "torch" in BACKENDS else "numpy"):
        in_use = _in_threads(lambda: backends.current().name, [()])[0]
    assert seen[0] == {"seed": None, "counter": 0}
    assert seen[1] == in_use == backends.default_name()
    assert host_random._state["seed"] == 5


def test_a_model_keeps_its_backend_in_another_thread():
    other = BACKENDS[-1]
    with backends.use(other):
        host_random.set_seed(2)
        model = Sequential([LSTM(3, input_shape=(5, 2)), Dense(2)])
    want = model.predict(X, verbose=0)
    got = _in_threads(lambda: (model.backend_name, model.predict(X, verbose=0)), [()])[0]
    assert got[0] == other and np.array_equal(got[1], want)


def test_a_copied_context_keeps_the_backend_and_shares_the_stream_until_it_seeds():
    other = BACKENDS[-1]
    with backends.use(other):
        host_random.set_seed(11)
        context = contextvars.copy_context()
    seen = _in_threads(lambda: context.run(lambda: (backends.current().name, host_random.uniform((3,), 0, 1))),
                       [()])[0]
    host_random.set_seed(11)
    assert seen[0] == other and np.array_equal(seen[1], host_random.uniform((3,), 0, 1))
    context.run(host_random.set_seed, 12)
    assert host_random._state["seed"] == 11 and context.run(lambda: host_random._state["seed"]) == 12


def test_asyncio_tasks_that_seed_themselves_do_not_interfere():
    async def task(seed):
        host_random.set_seed(seed)
        out = []
        for _ in range(3):
            out.append(host_random.uniform((2,), 0, 1))
            await asyncio.sleep(0)
        return np.concatenate(out)

    async def both():
        return await asyncio.gather(task(1), task(1), task(2))

    a, b, c = asyncio.run(both())
    host_random.set_seed(1)
    alone = np.concatenate([host_random.uniform((2,), 0, 1) for _ in range(3)])
    assert np.array_equal(a, alone) and np.array_equal(b, alone) and not np.array_equal(c, alone)


@pytest.mark.parametrize("backend", BACKENDS)
def test_set_floatx_in_another_thread_does_not_change_a_running_fit(backend):
    """A fit keeps the floatx it started with; the other thread's choice applies from its next call."""
    from multirnn.backends import config
    x, y = np.random.default_rng(0).standard_normal((8, 4, 3)), np.random.default_rng(1).standard_normal((8, 2))
    started, changed = threading.Event(), threading.Event()

    class Switch(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            if not started.is_set():  # the other thread changes floatx between this fit's batches
                started.set()
                changed.wait(10)
    with backends.use(backend) as K:
        model = Sequential([LSTM(2, input_shape=(4, 3))])
        model.compile("sgd", "mse")
    thread = threading.Thread(target=lambda: (started.wait(10), config.set_floatx("float64"), changed.set()))
    thread.start()
    try:
        with backends.use(backend) as K:
            history = model.fit(x, y, batch_size=2, epochs=1, verbose=0, callbacks=[Switch()])
            assert all(np.isfinite(history.history["loss"]))
            assert {str(K.dtype(w)) for w in model.weights} == {"float32"}
    finally:
        thread.join()
        config.set_floatx("float32")
    assert changed.is_set()
