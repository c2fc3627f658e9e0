"""A single-input model with 2 classes (guide 3.4.1): one sigmoid Dense unit on random 784-vectors."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import Dense
from multirnn.models import Sequential


def build_model():
    model = Sequential()
    model.add(Dense(1, input_dim=784, activation='sigmoid'))
    model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])
    return model


def main(samples=1000, epochs=10, verbose=1):
    model = build_model()
    # generate dummy data
    data = np.random.random((samples, 784))
    labels = np.random.randint(2, size=(samples, 1))
    # train the model, iterating on the data in batches of 32 samples
    history = model.fit(data, labels, nb_epoch=epochs, batch_size=32, verbose=verbose)
    score = model.evaluate(data, labels, batch_size=32, verbose=verbose)
    if verbose:
        print(f"backend {K.backend()}: loss and accuracy {score}")
    return model, history, score


if __name__ == "__main__":
    main()
