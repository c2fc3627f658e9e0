"""`DataParallel`: every rank holds the whole model, runs its shard of each global batch, and applies the
all-reduced gradients, so the weights stay identical on every rank (torch.distributed underneath)."""
import contextlib
import contextvars
import hashlib
from typing import Optional

import numpy as np

from multirnn import backend as K
from multirnn.distribute import buckets, sharding
from multirnn.errors import DistributedError

_scope = contextvars.ContextVar("multirnn_distribute_scope", default=None)


class DataParallel:
    """Data parallelism over the default torch.distributed process group (joined from the RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT environment when there is none): `fit(..., distribute=DataParallel())` or a scope."""

    def __init__(self, backend: Optional[str] = None, timeout: float = 300.0, bucket_mb: float = buckets.BUCKET_MB,
                 check_weights: bool = True):
        if backend not in (None, "gloo", "nccl"):
            raise ValueError(f"DataParallel: backend must be None, 'gloo' or 'nccl', got {backend!r}")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"DataParallel: timeout must be a number of seconds > 0, got {timeout!r}")
        if not (isinstance(bucket_mb, (int, float)) and bucket_mb > 0):
            raise ValueError(f"DataParallel: bucket_mb must be > 0, got {bucket_mb!r}")
        self.backend, self.timeout, self.bucket_mb = backend, float(timeout), float(bucket_mb)
        self.check_weights = check_weights
        self.rank, self.world_size, self.shard, self.step = 0, 1, None, 0
        self._tokens = []

    def __enter__(self) -> "DataParallel":
        self._tokens.append(_scope.set(self))
        return self

    def __exit__(self, *exc) -> None:
        _scope.reset(self._tokens.pop())

    def __repr__(self) -> str:
        return f"DataParallel(rank {self.rank} of {self.world_size}, backend {self.backend or 'auto'})"

    # ---- joining
    def connect(self) -> None:
        """Join the process group (once) and learn this rank and the world size."""
        self.backend = K.collectives.connect(self.backend, self.timeout)
        self.rank, self.world_size = K.collectives.rank(), K.collectives.world_size()

    def check_same_start(self, model, what: str) -> None:
        """Every rank must start from the same weights and random stream: compared by hash across ranks."""
        digest = hashlib.sha256()
        for w in model.get_weights():
            a = np.ascontiguousarray(w)
            digest.update(str((a.dtype.str, a.shape)).encode())
            digest.update(a.tobytes())
        state = K.host_random._state
        mine = (digest.hexdigest(), state["seed"], state["counter"])
        every = K.collectives.all_gather_object(mine, f"{model.owner}.{what}: the start check")
        weights = [r for r, entry in enumerate(every) if entry[0] != every[0][0]]
        streams = [r for r, entry in enumerate(every) if entry[1:] != every[0][1:]]
        if weights:
            raise DistributedError(f"{model.owner}.{what}: the initial weights of rank(s) {weights} differ from "
                                   "rank 0's; build the model from the same seed on every rank "
                                   "(K.set_random_seed(seed) before building it) or load the same weights")
        if streams:
            raise DistributedError(f"{model.owner}.{what}: the random stream of rank(s) {streams} is not rank 0's "
                                   f"(seed, counter {every[0][1:]} on rank 0, {[every[r][1:] for r in streams]}); "
                                   "call K.set_random_seed(seed) with the same seed on every rank and make the "
                                   "same draws before fit")

    # ---- one step
    def shard_of(self, total: int) -> sharding.Shard:
        """This rank's rows of a global batch of `total` samples; becomes the current shard."""
        self.shard = sharding.split(total, self.rank, self.world_size)
        return self.shard

    def step_scope(self):
        """Random draws of the step's local batch are rows of the global batch's draws."""
        start, stop = self.shard.run_rows()
        return K.host_random.batch_shard(self.shard.total, start, stop)

    def reduce_gradients(self, grads: list, total, local_size: int):
        """(gradients, loss) of the global batch: each rank's weighted by its share of the samples."""
        self.step += 1
        shard = self.shard if self.shard is not None else sharding.Shard(local_size, 0, local_size)
        weight = shard.weight
        where = f"the all-reduce of step {self.step}"
        loss = float(np.asarray(K.to_numpy(total), np.float64)) * weight if weight else 0.0
        summed = K.collectives.all_reduce_sum(np.array([loss], np.float64), where + " (loss)")
        grads = buckets.reduce_gradients(grads, weight, self.bucket_mb, where)
        return grads, K.constant(np.asarray(summed[0]), str(K.dtype(total)))

    # ---- epoch records and outputs
    def reduce_averages(self, averages, what: str):
        """Running means with every rank's totals and counts summed (the single-process means)."""
        every = K.collectives.all_gather_object((averages.totals, averages.counts), what)
        totals, counts = {}, {}
        for t, c in every:
            for name in t:
                totals[name] = totals.get(name, 0.0) + t[name]
                counts[name] = counts.get(name, 0) + c[name]
        averages.totals, averages.counts = totals, counts
        return averages

    def gather_batches(self, pieces: list, what: str) -> list:
        """Per output, every batch's rows from all ranks in rank order: the single-process order."""
        every = K.collectives.all_gather_object(pieces, what)
        outputs = next((p for p in every if p is not None), None)
        if outputs is None:
            return None
        joined = []
        for k in range(len(outputs)):
            steps = max(len(p[k]) for p in every if p is not None)
            rows = []
            for step in range(steps):
                rows += [p[k][step] for p in every if p is not None and p[k][step] is not None]
            joined.append(rows)
        return joined


def current() -> Optional[DataParallel]:
    """The strategy of the enclosing `with DataParallel():` block, if any."""
    return _scope.get()


def is_writer() -> bool:
    """Whether this process writes files: rank 0, or any process without a process group."""
    return K.collectives.rank() == 0


@contextlib.contextmanager
def attached(model, distribute, what: str):
    """Run a loop of `model` under `distribute` (or the enclosing scope's strategy): join, check, detach after."""
    strategy = distribute if distribute is not None else current()
    running = getattr(model, "_distribute", None)
    if strategy is None or running is not None:
        yield running
        return
    if not isinstance(strategy, DataParallel):
        raise TypeError(f"{model.owner}.{what}: distribute must be a DataParallel, got {type(strategy).__name__}")
    stateful = [layer.name for layer in _layers(model) if getattr(layer, "stateful", False)]
    if stateful:
        raise DistributedError(f"{model.owner}.{what}: layer {stateful[0]!r} is stateful; its states follow the "
                               "samples of one process's batches, so DataParallel refuses stateful models "
                               "(train them in one process, or with stateful=False)")
    strategy.connect()
    if strategy.check_weights:
        strategy.check_same_start(model, what)
    model._distribute, strategy.step = strategy, 0
    try:
        yield strategy
    finally:
        model._distribute, strategy.shard = None, None


def _layers(model) -> list:
    out, todo, seen = [], list(getattr(model, "layers", [])), set()
    while todo:
        layer = todo.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append(layer)
        todo += list(getattr(layer, "layers", []) or [])
        inner = getattr(layer, "layer", None) or getattr(layer, "forward_layer", None)
        todo += [inner] if inner is not None else []
        backward = getattr(layer, "backward_layer", None)
        todo += [backward] if backward is not None else []
    return out
