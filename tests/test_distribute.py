"""Data parallelism on torch.distributed: 2 and 3 processes on 127.0.0.1 with gloo, spawned here, give the
weights, History, evaluate and predict of one process; rank 0 alone writes; a killed rank fails the others."""
import csv
import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import needs_tensorflow, needs_torch

from multirnn import backends, distribute, utils
from multirnn.backends import host_random
from multirnn.distribute import buckets, sharding
from multirnn.errors import DistributedError
from multirnn.layers import LSTM, Dense
from multirnn.models import Sequential, load_model

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "distributed" / "worker.py"
WAIT_S = 240
# name: (processes, backend, floatx, tolerance, extra arguments)
GROUPS = {"numpy2": (2, "numpy", "float64", 1e-10, ["kill"]), "numpy3": (3, "numpy", "float64", 1e-10, []),
          "torch2": (2, "torch", "float32", 1e-5, []), "tensorflow2": (2, "tensorflow", "float64", 1e-10, [])}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every group started at once (they overlap their imports), then waited for; name -> (folder, exit codes)."""
    started = {}
    for name, (world, backend, floatx, _, extra) in GROUPS.items():
        if not backends.frameworks.HAS_TORCH or (backend == "tensorflow" and not backends.frameworks.HAS_TENSORFLOW):
            continue
        out, port = tmp_path_factory.mktemp(name), _free_port()
        procs = []
        for rank in range(world):
            env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                       MASTER_PORT=str(port), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
            procs.append(subprocess.Popen([sys.executable, str(WORKER), backend, floatx, str(out)] + extra, env=env,
                                          cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        started[name] = (out, procs)
    done = {}
    for name, (out, procs) in started.items():
        codes, logs = [], []
        for p in procs:
            try:
                logs.append(p.communicate(timeout=WAIT_S)[0].decode(errors="replace")[-3000:])
            except subprocess.TimeoutExpired:
                p.kill()
                logs.append(p.communicate()[0].decode(errors="replace")[-3000:])
            codes.append(p.returncode)
        done[name] = (out, codes, logs)
    return done


def _reports(runs, name):
    out, codes, logs = runs[name]
    world = GROUPS[name][0]
    expected = [0, -9] if name == "numpy2" else [0] * world
    assert codes == expected, f"{name}: exit codes {codes}, expected {expected}\n" + "\n---\n".join(logs)
    return out, [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]


def _close(a: dict, b: dict, tol: float) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=tol, err_msg=key)


def _params(names):
    marks = {"torch2": [needs_torch], "tensorflow2": [needs_torch, needs_tensorflow]}
    return [pytest.param(n, marks=[needs_torch] + marks.get(n, [])) for n in names]


@pytest.mark.parametrize("name", _params(GROUPS))
def test_ranks_train_as_one_process_on_the_global_batch(runs, name):
    """LSTM after Embedding(mask_zero=True), input, recurrent and output dropout, 10 samples in batches of 4
    (a last batch of 2, empty on a third rank), shuffled, with validation: weights, History, evaluate
    and predict equal one process's; the weights are bit-identical across ranks."""
    world, _, _, tol, _ = GROUPS[name]
    _, reports = _reports(runs, name)
    for r in reports:
        assert r["world_size"] == world
        assert r["weights_diff"] <= tol, r["weights_diff"]
        assert r["predict_diff"] <= tol and r["predict_shape"] == [10, 2]
        np.testing.assert_allclose(r["evaluate"], r["ref_evaluate"], rtol=0, atol=tol)
        _close(r["history"], r["ref_history"], tol)
        assert set(r["history"]) == {"loss", "mae", "val_loss", "val_mae"} and len(r["history"]["loss"]) == 2
    assert len({r["digest"] for r in reports}) == 1


@pytest.mark.parametrize("name", _params(["numpy2", "numpy3"]))
def test_only_rank_0_writes_and_its_checkpoint_loads_in_one_process(runs, name, float64):
    out, reports = _reports(runs, name)
    world = GROUPS[name][0]
    assert (out / "ckpt-dp-rank0.npz").exists() and (out / "log-dp-rank0.csv").exists()
    for r in range(1, world):
        assert not (out / f"ckpt-dp-rank{r}.npz").exists() and not (out / f"log-dp-rank{r}.csv").exists()
        assert (out / f"ckpt-single-rank{r}.npz").exists()  # without a strategy every process writes
    rows = [list(csv.DictReader(open(out / f"log-{tag}-rank0.csv"))) for tag in ("dp", "single")]
    assert len(rows[0]) == 2 and [row.keys() for row in rows[0]] == [row.keys() for row in rows[1]]
    for dp, single in zip(*rows):
        _close({k: float(v) for k, v in dp.items()}, {k: float(v) for k, v in single.items()}, 1e-10)
    with backends.use("numpy"):
        model = load_model(str(out / "ckpt-dp-rank0.npz"))
        data = np.random.RandomState(0)
        x = data.randint(1, 7, size=(10, 5))
        x[:, :2] *= data.rand(10, 2) > 0.5
        np.testing.assert_allclose(model.predict(x, batch_size=3), np.load(out / "predict-rank0.npy"), rtol=0,
                                   atol=1e-12)


@pytest.mark.parametrize("name", _params(["numpy2", "numpy3"]))
def test_a_nan_loss_on_one_rank_skips_the_step_on_every_rank(runs, name):
    """Sample 1 (rank 0's shard of the first batch) has a nan target: the global loss is nan, so every rank
    skips that step, and the other steps still train, as in one process."""
    _, reports = _reports(runs, name)
    for r in reports:
        assert r["nan_diff"] <= 1e-10 and r["nan_moved"] > 1e-3


@pytest.mark.parametrize("name", _params(["numpy2", "numpy3"]))
def test_a_rank_with_other_weights_is_refused_by_every_rank(runs, name):
    _, reports = _reports(runs, name)
    for r in reports:
        assert "the initial weights of rank(s) [1] differ from rank 0's" in r["mismatch_error"]


@pytest.mark.parametrize("name", _params(["numpy2"]))
def test_a_killed_rank_makes_the_others_fail_clearly_within_the_timeout(runs, name):
    _, reports = _reports(runs, name)
    error = reports[0]["kill_error"]
    assert error is not None and error.startswith("DataParallel: rank 0 of 2: the all-reduce of step 1")
    assert "another rank stopped, failed or did not answer" in error
    assert reports[0]["kill_seconds"] < 60.0  # the timeout of the process group; a dead peer is seen at once


# ---- in one process, no process group
def test_a_global_batch_draw_is_split_into_the_rows_of_each_rank():
    host_random.set_seed(3)
    whole = host_random.binomial((7, 4), 0.5), host_random.normal((7, 2), 0.0, 1.0)
    for world in (2, 3, 7):
        parts = [], []
        host_random.set_seed(3)
        for rank in range(world):
            shard = sharding.split(7, rank, world)
            with host_random.batch_shard(7, shard.start, shard.stop):
                host_random._state.update({"seed": 3, "counter": 0})
                parts[0].append(host_random.binomial((shard.size, 4), 0.5))
                parts[1].append(host_random.normal((shard.size, 2), 0.0, 1.0))
                assert host_random.uniform((3, 1), 0, 1).shape == (3, 1)  # other first dimensions: drawn as asked
        for full, pieces in zip(whole, parts):
            np.testing.assert_array_equal(np.concatenate(pieces), full)


@pytest.mark.parametrize("total,world", [(4, 2), (7, 2), (2, 3), (10, 3), (1, 4)])
def test_shards_cover_the_batch_in_order_as_evenly_as_possible(total, world):
    shards = [sharding.split(total, r, world) for r in range(world)]
    assert [s.start for s in shards][0] == 0 and shards[-1].stop == total
    assert all(a.stop == b.start for a, b in zip(shards, shards[1:]))
    assert max(s.size for s in shards) - min(s.size for s in shards) <= 1
    assert sum(s.weight for s in shards) == pytest.approx(1.0)
    assert all(s.rows() == slice(0, 1) for s in shards if s.size == 0)  # run one row, weighted 0


def test_gradients_go_in_a_few_buckets_of_one_dtype():
    dtypes = ["float32", "float32", "float64", "float32"]
    assert buckets.plan(dtypes, [10, 20, 5, 3], 2 ** 20) == [[0, 1, 3], [2]]
    assert buckets.plan(dtypes, [10, 2 ** 18, 5, 3], 2 ** 20) == [[0], [1], [2], [3]]  # 1 MiB buckets fill up
    assert buckets.plan(["float64"], [2 ** 20], 10) == [[0]]  # a weight bigger than a bucket has its own


def _stateful():
    utils.set_random_seed(0)
    model = Sequential([LSTM(2, stateful=True, batch_input_shape=(2, 3, 1)), Dense(1)])
    model.compile("sgd", "mse")
    return model


def test_a_stateful_model_is_refused():
    with pytest.raises(DistributedError, match="layer 'lstm.*' is stateful; .*DataParallel refuses stateful"):
        _stateful().fit(np.zeros((4, 3, 1)), np.zeros((4, 1)), batch_size=2, verbose=0,
                        distribute=distribute.DataParallel())


@needs_torch
def test_without_a_process_group_or_its_environment_the_error_says_how_to_launch(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    utils.set_random_seed(0)
    model = Sequential([Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    with pytest.raises(DistributedError, match="no RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the environment; "
                                               "launch with torchrun"):
        with distribute.DataParallel():
            model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)
    assert distribute.rank() == 0 and distribute.world_size() == 1 and distribute.is_writer()


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="backend must be None, 'gloo' or 'nccl', got 'mpi'"):
        distribute.DataParallel(backend="mpi")
    with pytest.raises(ValueError, match="timeout must be a number of seconds > 0, got 0"):
        distribute.DataParallel(timeout=0)


def test_fit_generator_under_a_strategy_is_refused():
    utils.set_random_seed(0)
    model = Sequential([Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    batches = ((np.zeros((2, 2)), np.zeros((2, 1))) for _ in range(4))
    with pytest.raises(DistributedError, match="fit_generator: DataParallel shards the arrays of fit, evaluate and "
                                               "predict only"):
        with distribute.DataParallel():
            model.fit_generator(batches, steps_per_epoch=2, verbose=0)


def test_the_example_runs_in_one_process_without_a_launcher(monkeypatch, capsys):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import data_parallel
    finally:
        sys.path.remove(str(ROOT / "examples"))
    model = data_parallel.main(samples=16, batch_size=8, timesteps=3, features=2, units=4)
    assert model.predict(np.zeros((2, 3, 2)), verbose=0).shape == (2, 1)
    assert capsys.readouterr().out.startswith("processes: 1  loss: ")
