"""Softmax classification with a multilayer perceptron (guide 3.5.1): Dense, tanh, Dropout,
SGD with Nesterov momentum, on random 20-dimensional data with 10 classes."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import Activation, Dense, Dropout
from multirnn.models import Sequential
from multirnn.optimizers import SGD
from multirnn.utils import to_categorical


def build_model():
    model = Sequential()
    # Dense(64) is a fully connected layer with 64 hidden units.
    # The first layer gives the shape of the input: here 20-dimensional vectors.
    model.add(Dense(64, input_dim=20, init='uniform'))
    model.add(Activation('tanh'))
    model.add(Dropout(0.5))
    model.add(Dense(64, init='uniform'))
    model.add(Activation('tanh'))
    model.add(Dropout(0.5))
    model.add(Dense(10, init='uniform'))
    model.add(Activation('softmax'))
    sgd = SGD(lr=0.1, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss='categorical_crossentropy', optimizer=sgd, metrics=['accuracy'])
    return model


def main(samples=1000, epochs=20, verbose=1):
    model = build_model()
    X_train = np.random.random((samples, 20))
    y_train = to_categorical(np.random.randint(10, size=(samples, 1)), 10)
    X_test = np.random.random((samples // 10 or 1, 20))
    y_test = to_categorical(np.random.randint(10, size=(len(X_test), 1)), 10)
    history = model.fit(X_train, y_train, nb_epoch=epochs, batch_size=16, verbose=verbose)
    score = model.evaluate(X_test, y_test, batch_size=16, verbose=verbose)
    if verbose:
        print(f"backend {K.backend()}: test loss and accuracy {score}")
    return model, history, score


if __name__ == "__main__":
    main()
