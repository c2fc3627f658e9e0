"""A multi-input, multi-output functional model (guide 4.2): a news headline read by Embedding
and LSTM, an auxiliary output on the LSTM, extra inputs merged in, two losses weighted 1 and 0.2."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import LSTM, Dense, Embedding, Input, merge
from multirnn.models import Model


def build_model(by_name=False):
    """With `by_name`, compile with losses and weights given as dicts keyed by output name."""
    # headline input: meant to receive sequences of 100 integers, between 1 and 10000.
    # note that we can name any layer by passing it a "name" argument.
    main_input = Input(shape=(100,), dtype='int32', name='main_input')
    # this embedding layer will encode the input sequence
    # into a sequence of dense 512-dimensional vectors.
    x = Embedding(output_dim=512, input_dim=10000, input_length=100)(main_input)
    # a LSTM will transform the vector sequence into a single vector,
    # containing information about the entire sequence
    lstm_out = LSTM(32)(x)
    # an extra loss lets the LSTM and Embedding train smoothly even when the main loss is high
    auxiliary_output = Dense(1, activation='sigmoid', name='aux_output')(lstm_out)

    auxiliary_input = Input(shape=(5,), name='aux_input')
    x = merge([lstm_out, auxiliary_input], mode='concat')
    # a deep fully connected network on top
    x = Dense(64, activation='relu')(x)
    x = Dense(64, activation='relu')(x)
    x = Dense(64, activation='relu')(x)
    # and finally the main logistic regression layer
    main_output = Dense(1, activation='sigmoid', name='main_output')(x)

    model = Model(input=[main_input, auxiliary_input], output=[main_output, auxiliary_output])
    if by_name:
        model.compile(optimizer='rmsprop',
                      loss={'main_output': 'binary_crossentropy', 'aux_output': 'binary_crossentropy'},
                      loss_weights={'main_output': 1., 'aux_output': 0.2})
    else:
        model.compile(optimizer='rmsprop', loss='binary_crossentropy', loss_weights=[1., 0.2])
    return model


def main(samples=1000, epochs=50, by_name=False, verbose=1):
    model = build_model(by_name)
    headline_data = np.random.randint(1, 10000, size=(samples, 100))
    additional_data = np.random.random((samples, 5))
    labels = np.random.randint(2, size=(samples, 1))
    if by_name:
        inputs = {'main_input': headline_data, 'aux_input': additional_data}
        targets = {'main_output': labels, 'aux_output': labels}
    else:
        inputs, targets = [headline_data, additional_data], [labels, labels]
    history = model.fit(inputs, targets, nb_epoch=epochs, batch_size=32, verbose=verbose)
    score = model.evaluate(inputs, targets, batch_size=32, verbose=verbose)
    if verbose:
        print(f"backend {K.backend()}: {dict(zip(model.metrics_names, score))}")
    return model, history, score


if __name__ == "__main__":
    main()
