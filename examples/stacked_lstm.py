"""Stacked LSTM for sequence classification (guide 3.5.6): two LSTMs return their whole output
sequence, the third only its last step, then a softmax over 10 classes; random data."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import LSTM, Dense
from multirnn.models import Sequential

data_dim = 16
timesteps = 8
nb_classes = 10


def build_model():
    # expected input data shape: (batch_size, timesteps, data_dim)
    model = Sequential()
    model.add(LSTM(32, return_sequences=True, input_shape=(timesteps, data_dim)))  # a sequence of 32-vectors
    model.add(LSTM(32, return_sequences=True))  # returns a sequence of vectors of dimension 32
    model.add(LSTM(32))  # return a single vector of dimension 32
    model.add(Dense(10, activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    return model


def main(samples=1000, epochs=5, verbose=1):
    model = build_model()
    # dummy training data
    x_train = np.random.random((samples, timesteps, data_dim))
    y_train = np.random.random((samples, nb_classes))
    # dummy validation data
    x_val = np.random.random((samples // 10 or 1, timesteps, data_dim))
    y_val = np.random.random((len(x_val), nb_classes))
    history = model.fit(x_train, y_train, batch_size=64, nb_epoch=epochs, validation_data=(x_val, y_val),
                        verbose=verbose)
    score = model.evaluate(x_val, y_val, batch_size=64, verbose=verbose)
    if verbose:
        print(f"backend {K.backend()}: validation loss and accuracy {score}")
    return model, history, score


if __name__ == "__main__":
    main()
