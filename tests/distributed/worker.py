"""One rank of the data-parallel tests: train a small recurrent model with and without DataParallel and
write what rank 0 (and every rank) saw to OUT/rank{R}.json. Run by tests/test_distribute.py.

usage: worker.py BACKEND FLOATX OUT [kill]   (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the environment)
"""
import hashlib
import json
import os
import signal
import sys
import time
import warnings

import numpy as np

BACKEND, FLOATX, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
KILL = "kill" in sys.argv[4:]
RANK = int(os.environ["RANK"])
TIMEOUT = 60.0  # bounds a hang; generous, so that a slow start on a busy machine is not one

import torch  # noqa: E402

torch.set_num_threads(1)
from multirnn import backends, callbacks, optimizers, utils  # noqa: E402
from multirnn.distribute import DataParallel  # noqa: E402
from multirnn.errors import DistributedError  # noqa: E402
from multirnn.layers import LSTM, Dense, Dropout, Embedding  # noqa: E402
from multirnn.models import Sequential  # noqa: E402

SAMPLES, STEPS, BATCH = 10, 5, 4  # 10 samples in batches of 4: a last batch of 2 (empty on a third rank)
data = np.random.RandomState(0)
X = data.randint(1, 7, size=(SAMPLES, STEPS))
X[:, :2] *= data.rand(SAMPLES, 2) > 0.5  # leading zeros: masked timesteps
Y = data.rand(SAMPLES, 2)
SW = data.rand(SAMPLES) + 0.5  # sample weights are sharded with their samples
XV, YV = data.randint(0, 7, size=(5, STEPS)), data.rand(5, 2)


def build():
    """The same model from the same seed on every rank."""
    utils.set_random_seed(7)
    model = Sequential([Embedding(7, 3, input_length=STEPS, mask_zero=True),
                        LSTM(4, dropout=0.3, recurrent_dropout=0.2), Dropout(0.25), Dense(2)])
    # momentum updates only the Embedding rows a batch gathers: the ranks must agree on the rows of the global batch
    model.compile(optimizers.SGD(learning_rate=0.1, momentum=0.9), "mse", metrics=["mae"])
    return model


def run(strategy, tag):
    """fit 2 shuffled epochs with sample weights and validation, then evaluate and predict; what came out."""
    model = build()
    cbs = [callbacks.ModelCheckpoint(os.path.join(OUT, f"ckpt-{tag}-rank{RANK}.npz"), monitor="val_loss",
                                     save_best_only=False),
           callbacks.CSVLogger(os.path.join(OUT, f"log-{tag}-rank{RANK}.csv"))]
    history = model.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=True, verbose=0, callbacks=cbs,
                        validation_data=(XV, YV), sample_weight=SW, distribute=strategy)
    evaluated = model.evaluate(XV, YV, batch_size=3, verbose=0, distribute=strategy)
    predicted = model.predict(X, batch_size=3, distribute=strategy)
    return model, history.history, evaluated, predicted


def digest(weights) -> str:
    h = hashlib.sha256()
    for w in weights:
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


with backends.use(BACKEND):
    from multirnn import backend as K
    K.set_floatx(FLOATX)
    report = {"rank": RANK}
    ref_model, ref_history, ref_eval, ref_pred = run(None, "single")
    start = time.perf_counter()
    strategy = DataParallel(backend="gloo", timeout=TIMEOUT)
    model, history, evaluated, predicted = run(strategy, "dp")
    report["seconds"] = time.perf_counter() - start
    report["world_size"] = strategy.world_size
    report["weights_diff"] = max(float(np.max(np.abs(a - b))) for a, b in zip(model.get_weights(),
                                                                                ref_model.get_weights()))
    report["digest"] = digest(model.get_weights())
    report["history"], report["ref_history"] = history, ref_history
    report["evaluate"], report["ref_evaluate"] = evaluated, ref_eval
    report["predict_diff"] = float(np.max(np.abs(predicted - ref_pred)))
    report["predict_shape"] = list(predicted.shape)
    np.save(os.path.join(OUT, f"predict-rank{RANK}.npy"), predicted)

    if BACKEND == "numpy":  # a nan target on one rank's shard: every rank skips that step, as one process does
        Y_NAN = Y.copy()
        Y_NAN[1] = np.nan
        trained = []
        for use in (None, strategy):
            m = build()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                m.fit(X, Y_NAN, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, distribute=use)
            trained.append(m.get_weights())
        report["nan_diff"] = max(float(np.max(np.abs(a - b))) for a, b in zip(*trained))
        report["nan_moved"] = max(float(np.max(np.abs(a - b))) for a, b in zip(trained[1], build().get_weights()))

    bad = build()  # a rank whose weights differ from rank 0's is refused by every rank
    if RANK == 1:
        bad.set_weights([w + 1.0 for w in bad.get_weights()])
    try:
        bad.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0, distribute=strategy)
        report["mismatch_error"] = None
    except DistributedError as e:
        report["mismatch_error"] = str(e)

    if KILL:  # rank 1 dies at its first step; the others must fail with a clear error, not hang
        doomed = build()
        suicide = callbacks.LambdaCallback(
            on_batch_begin=lambda batch, logs: RANK == 1 and os.kill(os.getpid(), signal.SIGKILL))
        with open(os.path.join(OUT, f"rank{RANK}.json"), "w") as f:
            json.dump(report, f)
        t0 = time.perf_counter()
        try:
            with strategy:
                doomed.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[suicide])
            report["kill_error"] = None
        except DistributedError as e:
            report["kill_error"] = str(e)
        report["kill_seconds"] = time.perf_counter() - t0

with open(os.path.join(OUT, f"rank{RANK}.json"), "w") as f:
    json.dump(report, f)
sys.stdout.flush()
os._exit(0)  # skip the process group's teardown, which waits on dead peers
