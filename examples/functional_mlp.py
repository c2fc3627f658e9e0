"""The functional API's first model (guide section 4): an Input tensor, Dense layers called on
tensors, and `Model(input=..., output=...)` trained like a Sequential model on random data."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import Dense, Input
from multirnn.models import Model
from multirnn.utils import to_categorical


def build_model():
    # this returns a tensor
    inputs = Input(shape=(784,))
    # a layer instance is callable on a tensor, and returns a tensor
    x = Dense(64, activation='relu')(inputs)
    x = Dense(64, activation='relu')(x)
    predictions = Dense(10, activation='softmax')(x)
    # this creates a model that includes the Input layer and three Dense layers
    model = Model(input=inputs, output=predictions)
    model.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])
    return model


def main(samples=1000, epochs=10, verbose=1):
    model = build_model()
    data = np.random.random((samples, 784))
    labels = to_categorical(np.random.randint(10, size=(samples, 1)), 10)
    history = model.fit(data, labels, nb_epoch=epochs, verbose=verbose)  # starts training
    score = model.evaluate(data, labels, verbose=verbose)
    if verbose:
        print(f"backend {K.backend()}: loss and accuracy {score}")
    return model, history, score


if __name__ == "__main__":
    main()
