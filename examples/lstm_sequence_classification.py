"""Sequence classification with an LSTM (guide 3.5.5) on random word indices and binary labels; the
guide's listing stops after Dropout, so a sigmoid Dense unit and binary cross-entropy complete it."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import LSTM, Activation, Dense, Dropout, Embedding
from multirnn.models import Sequential

max_features = 5000  # vocabulary size (the guide leaves it open)
maxlen = 80          # words per sequence


def build_model():
    model = Sequential()
    model.add(Embedding(max_features, 256, input_length=maxlen))
    model.add(LSTM(output_dim=128, activation='sigmoid', inner_activation='hard_sigmoid'))
    model.add(Dropout(0.5))
    model.add(Dense(1))
    model.add(Activation('sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    return model


def main(samples=1000, epochs=10, verbose=1):
    model = build_model()
    X_train = np.random.randint(1, max_features, size=(samples, maxlen))
    Y_train = np.random.randint(2, size=(samples, 1))
    X_test = np.random.randint(1, max_features, size=(samples // 10 or 1, maxlen))
    Y_test = np.random.randint(2, size=(len(X_test), 1))
    history = model.fit(X_train, Y_train, batch_size=16, nb_epoch=epochs, verbose=verbose)
    score = model.evaluate(X_test, Y_test, batch_size=16, verbose=verbose)
    if verbose:
        print(f"backend {K.backend()}: test loss and accuracy {score}")
    return model, history, score


if __name__ == "__main__":
    main()
