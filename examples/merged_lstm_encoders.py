"""Two LSTM encoders merged for classifying two parallel sequences (guide 3.5.8): each sequence
is encoded to a vector, a Keras 1 Merge concatenates them, Dense layers classify; random data."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import LSTM, Dense, Merge
from multirnn.models import Sequential

data_dim = 16
timesteps = 8
nb_classes = 10


def build_model():
    encoder_a = Sequential()
    encoder_a.add(LSTM(32, input_shape=(timesteps, data_dim)))
    encoder_b = Sequential()
    encoder_b.add(LSTM(32, input_shape=(timesteps, data_dim)))
    decoder = Sequential()
    decoder.add(Merge([encoder_a, encoder_b], mode='concat'))
    decoder.add(Dense(32, activation='relu'))
    decoder.add(Dense(nb_classes, activation='softmax'))
    decoder.compile(loss='categorical_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    return decoder


def main(samples=1000, epochs=5, verbose=1):
    decoder = build_model()
    # dummy training data
    x_train_a = np.random.random((samples, timesteps, data_dim))
    x_train_b = np.random.random((samples, timesteps, data_dim))
    y_train = np.random.random((samples, nb_classes))
    # dummy validation data
    x_val_a = np.random.random((samples // 10 or 1, timesteps, data_dim))
    x_val_b = np.random.random((len(x_val_a), timesteps, data_dim))
    y_val = np.random.random((len(x_val_a), nb_classes))
    history = decoder.fit([x_train_a, x_train_b], y_train, batch_size=64, nb_epoch=epochs,
                          validation_data=([x_val_a, x_val_b], y_val), verbose=verbose)
    score = decoder.evaluate([x_val_a, x_val_b], y_val, batch_size=64, verbose=verbose)
    if verbose:
        print(f"backend {K.backend()}: validation loss and accuracy {score}")
    return decoder, history, score


if __name__ == "__main__":
    main()
