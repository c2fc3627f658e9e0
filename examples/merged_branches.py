"""Two Sequential branches joined by a Keras 1 Merge layer (guide 3.2 and 3.4.2): a multi-input
model with 10 classes, trained on a list of two random arrays; mode may also be a function."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import Dense, Merge
from multirnn.models import Sequential
from multirnn.utils import to_categorical


def build_model(mode='concat'):
    left_branch = Sequential()
    left_branch.add(Dense(32, input_dim=784))
    right_branch = Sequential()
    right_branch.add(Dense(32, input_dim=784))
    merged = Merge([left_branch, right_branch], mode=mode)
    model = Sequential()
    model.add(merged)
    model.add(Dense(10, activation='softmax'))
    model.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])
    return model


def main(samples=1000, epochs=10, mode='concat', verbose=1):
    """`mode`: 'concat', another mode name, or e.g. `lambda x: x[0] - x[1]`."""
    model = build_model(mode)
    # generate dummy data
    data_1 = np.random.random((samples, 784))
    data_2 = np.random.random((samples, 784))
    # these are integers between 0 and 9
    labels = np.random.randint(10, size=(samples, 1))
    # convert the labels to a binary matrix of size (samples, 10) for categorical_crossentropy
    labels = to_categorical(labels, 10)
    # a list of arrays as training data, since the model has 2 inputs
    history = model.fit([data_1, data_2], labels, nb_epoch=epochs, batch_size=32, verbose=verbose)
    score = model.evaluate([data_1, data_2], labels, batch_size=32, verbose=verbose)
    if verbose:
        print(f"backend {K.backend()}: loss and accuracy {score}")
    return model, history, score


if __name__ == "__main__":
    main()
