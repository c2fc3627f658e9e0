"""Building a Sequential model (guide section 3) from a list or with add(), and the equivalent ways
to give the input shape of a Dense (3.1.1) or LSTM (3.1.2, recurrent-layer guide) first layer."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import LSTM, Activation, Dense
from multirnn.models import Sequential
from multirnn.utils import set_random_seed, to_categorical


def build_model():
    model = Sequential([
        Dense(32, input_dim=784),
        Activation('relu'),
        Dense(10),
        Activation('softmax'),
    ])
    model.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])
    return model


# Three strictly equivalent ways to give the input shape of a Dense first layer (3.1.1)
DENSE_INPUTS = [{"input_shape": (784,)},
                {"batch_input_shape": (None, 784)},  # batch size None: any batch size
                {"input_dim": 784}]                 # 32 outputs, 784 inputs
# and of an LSTM first layer (3.1.2)
LSTM_INPUTS = [{"input_shape": (10, 64)},
               {"batch_input_shape": (None, 10, 64)},
               {"input_dim": 64, "input_length": 10}]


def dense_model(**input_spec):
    model = Sequential()
    model.add(Dense(32, **input_spec))
    return model


def lstm_model(**input_spec):
    """Later layers need no input size; the first LSTM returns its whole sequence for the second."""
    model = Sequential()
    model.add(LSTM(32, return_sequences=True, **input_spec))
    # now model.output_shape == (None, 10, 32)
    model.add(LSTM(16))
    return model


def equivalent_outputs(seed=0, samples=4):
    """For Dense and for LSTM: the predictions of the three models, each built from `seed`."""
    x_dense, x_lstm = np.random.random((samples, 784)), np.random.random((samples, 10, 64))
    outputs = []
    for build, specs, x in ((dense_model, DENSE_INPUTS, x_dense), (lstm_model, LSTM_INPUTS, x_lstm)):
        group = []
        for spec in specs:
            set_random_seed(seed)
            group.append(build(**spec).predict(x))
        outputs.append(group)
    return outputs


def main(samples=1000, epochs=10, verbose=1):
    model = build_model()
    data = np.random.random((samples, 784))
    labels = to_categorical(np.random.randint(10, size=(samples, 1)), 10)
    history = model.fit(data, labels, nb_epoch=epochs, batch_size=32, verbose=verbose)
    score = model.evaluate(data, labels, batch_size=32, verbose=verbose)
    if verbose:
        shapes = [dense_model(**s).output_shape for s in DENSE_INPUTS] + \
            [lstm_model(**s).output_shape for s in LSTM_INPUTS]
        print(f"backend {K.backend()}: loss and accuracy {score}; output shapes {shapes}")
    return model, history, score


if __name__ == "__main__":
    main()
