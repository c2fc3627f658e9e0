"""The guide's first Sequential model (section 1.2): Dense and Activation layers, SGD with Nesterov
momentum, fit, train_on_batch, evaluate, predict_classes and predict_proba on random data."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import Activation, Dense
from multirnn.models import Sequential
from multirnn.optimizers import SGD
from multirnn.utils import to_categorical


def build_model():
    model = Sequential()
    model.add(Dense(output_dim=64, input_dim=100))
    model.add(Activation("relu"))
    model.add(Dense(output_dim=10))
    model.add(Activation("softmax"))
    model.compile(loss='categorical_crossentropy', optimizer='sgd', metrics=['accuracy'])
    # or, with full control over the optimizer:
    model.compile(loss='categorical_crossentropy', optimizer=SGD(lr=0.01, momentum=0.9, nesterov=True),
                  metrics=['accuracy'])
    return model


def main(samples=1000, epochs=5, verbose=1):
    model = build_model()
    X_train = np.random.random((samples, 100))
    Y_train = to_categorical(np.random.randint(10, size=(samples, 1)), 10)
    X_test = np.random.random((samples // 10 or 1, 100))
    Y_test = to_categorical(np.random.randint(10, size=(len(X_test), 1)), 10)

    history = model.fit(X_train, Y_train, nb_epoch=epochs, batch_size=32, verbose=verbose)
    # one batch by hand
    X_batch, Y_batch = X_train[:32], Y_train[:32]
    model.train_on_batch(X_batch, Y_batch)

    loss_and_metrics = model.evaluate(X_test, Y_test, batch_size=32, verbose=verbose)
    classes = model.predict_classes(X_test, batch_size=32)
    proba = model.predict_proba(X_test, batch_size=32)
    if verbose:
        print(f"backend {K.backend()}: test loss and accuracy {loss_and_metrics}; "
              f"classes {classes.shape}, probabilities {proba.shape}")
    return model, history, loss_and_metrics


if __name__ == "__main__":
    main()
