"""Data-parallel training: the same script on every process, each rank its shard of every global batch.

    torchrun --nproc_per_node=2 examples/data_parallel.py          # 2 processes on this machine
    torchrun --nproc_per_node=1 examples/data_parallel.py          # the same run in one process
    python examples/data_parallel.py                               # no launcher: one process, no strategy

Every rank builds the model from the same seed; rank 0 prints and writes the checkpoint."""
import argparse
import os
import time

import numpy as np

from multirnn import callbacks, distribute, utils
from multirnn.layers import LSTM, Dense
from multirnn.models import Sequential


def build_model(timesteps: int, features: int, units: int) -> Sequential:
    utils.set_random_seed(0)  # the same initial weights and random stream on every rank
    model = Sequential([LSTM(units, input_shape=(timesteps, features), dropout=0.1), Dense(1)])
    model.compile("adam", "mse")
    return model


def main(samples=2048, batch_size=256, timesteps=50, features=32, units=64, epochs=1, checkpoint=None):
    data = np.random.RandomState(1)
    x = data.rand(samples, timesteps, features).astype("float32")
    y = x.mean(axis=(1, 2))[:, None]
    model = build_model(timesteps, features, units)
    strategy = distribute.DataParallel(backend="gloo") if "WORLD_SIZE" in os.environ else None
    if strategy is not None:
        strategy.connect()  # join the group (importing torch) before the clock starts
        distribute.barrier()
    cbs = [callbacks.ModelCheckpoint(checkpoint, monitor="loss")] if checkpoint else []
    start, cpu = time.perf_counter(), time.process_time()
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=cbs, distribute=strategy)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if distribute.rank() == 0:
        print(f"processes: {distribute.world_size()}  loss: {history.history['loss'][-1]:.6f}  "
              f"fit: {seconds:.2f}s ({samples * epochs / seconds:.0f} samples/s), {cpu:.2f} CPU s on rank 0")
    return model


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=2048)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--checkpoint", help="a file rank 0 saves the model to after each epoch")
    args = p.parse_args()
    main(samples=args.samples, epochs=args.epochs, checkpoint=args.checkpoint)
