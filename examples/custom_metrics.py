"""Compiling for different problems (guide 3.3.1), with the custom metrics `mean_pred` and
`false_rates` (a dict of two values) on the binary classifier of 3.4.1."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import Dense
from multirnn.models import Sequential


def mean_pred(y_true, y_pred):
    return K.mean(y_pred)


def false_rates(y_true, y_pred):
    predicted = K.round(y_pred)
    false_neg = K.mean(y_true * (1 - predicted))
    false_pos = K.mean((1 - y_true) * predicted)
    return {
        'false_neg': false_neg,
        'false_pos': false_pos,
    }


def compile_for(model, problem):
    """The guide's compile call for 'multiclass', 'binary', 'regression' or 'custom'."""
    if problem == 'multiclass':
        model.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])
    elif problem == 'binary':
        model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])
    elif problem == 'regression':
        model.compile(optimizer='rmsprop', loss='mse')
    else:
        model.compile(optimizer='rmsprop', loss='binary_crossentropy',
                      metrics=['accuracy', mean_pred, false_rates])
    return model


def build_model(problem='custom'):
    model = Sequential()
    model.add(Dense(1, input_dim=784, activation='sigmoid'))
    return compile_for(model, problem)


def main(samples=1000, epochs=10, problem='custom', verbose=1):
    model = build_model(problem)
    data = np.random.random((samples, 784))
    labels = np.random.randint(2, size=(samples, 1))
    history = model.fit(data, labels, nb_epoch=epochs, batch_size=32, verbose=verbose)
    score = model.evaluate(data, labels, batch_size=32, verbose=verbose)
    if verbose:
        names = list(history.history)  # the quantities evaluate returns, a dict metric by its keys
        print(f"backend {K.backend()}: {dict(zip(names, np.atleast_1d(score).tolist()))}")
    return model, history, score


if __name__ == "__main__":
    main()
