"""Handwritten digits (scikit-learn's 8x8 images) read row by row as 8-step sequences by an LSTM.

Runs on any backend (NumPy by default): `MULTIRNN_BACKEND=torch python examples/digits_lstm.py`.
Saves the training curves to digits_history.png (or the path given as the first argument).
"""
import os
import sys
import time

# A recurrent step multiplies small matrices; on a shared or busy CPU, OpenBLAS threads spin
# and make those products 10-20x slower than one thread. Set before NumPy loads; override freely.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from multirnn import backend as K  # noqa: E402
from multirnn import optimizers  # noqa: E402
from multirnn.layers import LSTM, Dense  # noqa: E402
from multirnn.models import Sequential  # noqa: E402
from multirnn.utils import plot_history, set_random_seed, to_categorical  # noqa: E402


def load(test_fraction: float = 0.2, seed: int = 0):
    """Images scaled to [0, 1] as (samples, 8 rows, 8 pixels), split into train and test."""
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")
    y = to_categorical(digits.target, 10)
    order = np.random.RandomState(seed).permutation(len(x))
    cut = int(len(x) * (1 - test_fraction))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def main(plot_path: str = "digits_history.png", epochs: int = 20) -> float:
    set_random_seed(1)
    (x_train, y_train), (x_test, y_test) = load()
    model = Sequential([LSTM(64, input_shape=(8, 8)), Dense(10, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    start = time.time()
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.1, verbose=1)
    seconds = time.time() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"backend {K.backend()}: test accuracy {accuracy:.4f}, loss {loss:.4f}, "
          f"trained in {seconds:.1f} s")
    try:
        print(f"training curves saved to {plot_history(history, plot_path)}")
    except ImportError as e:
        print(f"no plot: {e}")
    return accuracy


if __name__ == "__main__":
    main(*sys.argv[1:2])
