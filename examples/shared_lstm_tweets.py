"""A shared layer (guide 4.3): one LSTM encodes two tweets, the two vectors are merged and a
logistic regression says whether both come from the same user; random one-hot-like data."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import LSTM, Dense, Input, merge
from multirnn.models import Model


def build_model():
    # a tweet: 140 characters, each a 256-dimensional vector
    tweet_a = Input(shape=(140, 256))
    tweet_b = Input(shape=(140, 256))
    # this layer can take as input a matrix and will return a vector of size 64
    shared_lstm = LSTM(64)
    # when we reuse the same layer instance multiple times,
    # the weights of the layer are also being reused
    # (it is effectively *the same* layer)
    encoded_a = shared_lstm(tweet_a)
    encoded_b = shared_lstm(tweet_b)
    # we can then concatenate the two vectors:
    merged_vector = merge([encoded_a, encoded_b], mode='concat', concat_axis=-1)
    # and add a logistic regression on top
    predictions = Dense(1, activation='sigmoid')(merged_vector)
    # we define a trainable model linking the tweet inputs to the predictions
    model = Model(input=[tweet_a, tweet_b], output=predictions)
    model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])
    return model


def main(samples=200, epochs=10, verbose=1):
    model = build_model()
    data_a = (np.random.random((samples, 140, 256)) > 0.9).astype('float32')
    data_b = (np.random.random((samples, 140, 256)) > 0.9).astype('float32')
    labels = np.random.randint(2, size=(samples, 1))
    history = model.fit([data_a, data_b], labels, nb_epoch=epochs, verbose=verbose)
    score = model.evaluate([data_a, data_b], labels, verbose=verbose)
    if verbose:
        print(f"backend {K.backend()}: loss and accuracy {score}")
    return model, history, score


if __name__ == "__main__":
    main()
