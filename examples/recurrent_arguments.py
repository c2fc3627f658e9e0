"""The recurrent layers' arguments (recurrent-layer guide, LSTM guide, guide section 6): SimpleRNN,
GRU and LSTM stacked, spelled with Keras 1 names or the Keras 2 names of the LSTM guide."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import GRU, LSTM, Dense, SimpleRNN
from multirnn.models import Sequential

timesteps = 10
input_dim = 64


def keras1_layers():
    return [
        SimpleRNN(output_dim=32, init='glorot_uniform', inner_init='orthogonal', activation='tanh',
                  W_regularizer=None, U_regularizer=None, b_regularizer=None, dropout_W=0.1, dropout_U=0.1,
                  return_sequences=True, consume_less='mem', input_dim=input_dim, input_length=timesteps),
        GRU(output_dim=32, init='glorot_uniform', inner_init='orthogonal', activation='tanh',
            inner_activation='hard_sigmoid', dropout_W=0.1, dropout_U=0.1, return_sequences=True,
            consume_less='mem'),
        LSTM(output_dim=32, init='glorot_uniform', inner_init='orthogonal', forget_bias_init='one',
             activation='tanh', inner_activation='hard_sigmoid', dropout_W=0.1, dropout_U=0.1,
             consume_less='mem'),
    ]


def keras2_layers():
    return [
        SimpleRNN(units=32, activation='tanh', kernel_initializer='glorot_uniform',
                  recurrent_initializer='orthogonal', dropout=0.1, recurrent_dropout=0.1,
                  return_sequences=True, implementation=1, input_shape=(timesteps, input_dim)),
        GRU(units=32, activation='tanh', recurrent_activation='hard_sigmoid', kernel_initializer='glorot_uniform',
            recurrent_initializer='orthogonal', dropout=0.1, recurrent_dropout=0.1, return_sequences=True,
            implementation=1),
        LSTM(units=32, activation='tanh', recurrent_activation='hard_sigmoid', use_bias=True,
             kernel_initializer='glorot_uniform', recurrent_initializer='orthogonal', bias_initializer='zeros',
             unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
             activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
             dropout=0.1, recurrent_dropout=0.1, implementation=1, return_sequences=False, return_state=False,
             go_backwards=False, stateful=False, unroll=False),
    ]


def build_model(spelling='keras1'):
    """The same network with either spelling: the same seed gives the same weights."""
    model = Sequential(keras1_layers() if spelling == 'keras1' else keras2_layers())
    model.add(Dense(1, activation='sigmoid'))
    model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])
    return model


def main(samples=1000, epochs=5, spelling='keras1', verbose=1):
    model = build_model(spelling)
    x = np.random.random((samples, timesteps, input_dim))
    y = np.random.randint(2, size=(samples, 1))
    history = model.fit(x, y, nb_epoch=epochs, batch_size=32, verbose=verbose)
    score = model.evaluate(x, y, batch_size=32, verbose=verbose)
    if verbose:
        print(f"backend {K.backend()}: loss and accuracy {score}")
    return model, history, score


if __name__ == "__main__":
    main()
