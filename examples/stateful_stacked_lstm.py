"""The stacked LSTM made stateful (guide 3.5.7): a full batch_input_shape, stateful=True, the
state of sample i of one batch carried to sample i of the next; reset_states() clears it."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import LSTM, Dense
from multirnn.models import Sequential

data_dim = 16
timesteps = 8
nb_classes = 10


def build_model(batch_size=32):
    # expected input data shape: (batch_size, timesteps, data_dim)
    # the network is stateful, so the full batch_input_shape must be given.
    # the sample of index i in batch k is the follow-up for the sample i in batch k-1.
    model = Sequential()
    model.add(LSTM(32, return_sequences=True, stateful=True,
                   batch_input_shape=(batch_size, timesteps, data_dim)))
    model.add(LSTM(32, return_sequences=True, stateful=True))
    model.add(LSTM(32, stateful=True))
    model.add(Dense(10, activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    return model


def main(samples=320, epochs=5, batch_size=32, verbose=1):
    """`samples` (and a third of them for validation) must be whole batches."""
    model = build_model(batch_size)
    # dummy training data
    x_train = np.random.random((samples, timesteps, data_dim))
    y_train = np.random.random((samples, nb_classes))
    # dummy validation data
    val_samples = max(samples // 3 // batch_size, 1) * batch_size
    x_val = np.random.random((val_samples, timesteps, data_dim))
    y_val = np.random.random((val_samples, nb_classes))
    history = model.fit(x_train, y_train, batch_size=batch_size, nb_epoch=epochs, shuffle=False,
                        validation_data=(x_val, y_val), verbose=verbose)
    model.reset_states()
    score = model.evaluate(x_val, y_val, batch_size=batch_size, verbose=verbose)
    if verbose:
        print(f"backend {K.backend()}: validation loss and accuracy {score}")
    return model, history, score


if __name__ == "__main__":
    main()
