"""Skipping timesteps with Masking (guide 5.11): timesteps 3 and 5 are missing, set to 0 and
masked, so the LSTM skips them; trained towards random 32-vectors."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import LSTM, Masking
from multirnn.models import Sequential

timesteps = 10
features = 8


def build_model():
    model = Sequential()
    model.add(Masking(mask_value=0., input_shape=(timesteps, features)))
    model.add(LSTM(32))
    model.compile(optimizer='rmsprop', loss='mse')
    return model


def main(samples=1000, epochs=10, verbose=1):
    model = build_model()
    x = np.random.random((samples, timesteps, features))
    # the signal of timesteps 3 and 5 is missing
    x[:, 3, :] = 0.
    x[:, 5, :] = 0.
    y = np.random.uniform(-1, 1, size=(samples, 32))
    history = model.fit(x, y, nb_epoch=epochs, batch_size=32, verbose=verbose)
    score = model.evaluate(x, y, batch_size=32, verbose=verbose)
    if verbose:
        print(f"backend {K.backend()}: mse {score}")
    return model, history, score


if __name__ == "__main__":
    main()
