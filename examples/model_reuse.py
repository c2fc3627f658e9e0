"""A trained model called like a layer (guide 4.1): on a new Input, reusing its weights, and
through TimeDistributed, turning the 784-vector classifier into one for 20-step sequences."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import Dense, Input, TimeDistributed
from multirnn.models import Model
from multirnn.utils import to_categorical


def build_models():
    """The classifier of section 4, the same model called on a new input, and the sequence model."""
    inputs = Input(shape=(784,))
    x = Dense(64, activation='relu')(inputs)
    x = Dense(64, activation='relu')(x)
    predictions = Dense(10, activation='softmax')(x)
    model = Model(input=inputs, output=predictions)

    x = Input(shape=(784,))
    # this works, and returns the 10-way softmax we defined above.
    y = model(x)
    reused = Model(input=x, output=y)

    # input tensor for sequences of 20 timesteps, each containing a 784-dimensional vector
    input_sequences = Input(shape=(20, 784))
    # this applies our previous model to every timestep in the input sequences.
    # the output of the previous model was a 10-way softmax,
    # so the output of the layer below will be a sequence of 20 vectors of size 10.
    processed_sequences = TimeDistributed(model)(input_sequences)
    sequence_model = Model(input=input_sequences, output=processed_sequences)
    sequence_model.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])
    return model, reused, sequence_model


def main(samples=100, epochs=10, verbose=1):
    model, reused, sequence_model = build_models()
    sequences = np.random.random((samples, 20, 784))
    labels = to_categorical(np.random.randint(10, size=(samples, 20)), 10)
    history = sequence_model.fit(sequences, labels, nb_epoch=epochs, batch_size=32, verbose=verbose)
    score = sequence_model.evaluate(sequences, labels, batch_size=32, verbose=verbose)
    if verbose:
        same = np.allclose(model.predict(sequences[:, 0]), reused.predict(sequences[:, 0]))
        print(f"backend {K.backend()}: loss and accuracy {score}; reused model agrees: {same}")
    return sequence_model, history, score


if __name__ == "__main__":
    main()
