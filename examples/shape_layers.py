"""The shape layers of guide 5.5 to 5.7: Reshape, Permute and RepeatVector with the output shapes
the guide states; the RepeatVector model is then fitted to random targets of its shape."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import Dense, Permute, RepeatVector, Reshape
from multirnn.models import Sequential


def build_models():
    """{name: model} for the three listings; the comments give the guide's output shapes."""
    reshape = Sequential()
    # as first layer in a Sequential model
    reshape.add(Reshape((3, 4), input_shape=(12,)))
    # now: model.output_shape == (None, 3, 4)
    # note: `None` is the batch dimension
    # as intermediate layer in a Sequential model
    reshape.add(Reshape((6, 2)))
    # now: model.output_shape == (None, 6, 2)

    permute = Sequential()
    permute.add(Permute((2, 1), input_shape=(10, 64)))
    # now: model.output_shape == (None, 64, 10)

    repeat = Sequential()
    repeat.add(Dense(32, input_dim=32))
    # now: model.output_shape == (None, 32)
    repeat.add(RepeatVector(3))
    # now: model.output_shape == (None, 3, 32)
    return {'reshape': reshape, 'permute': permute, 'repeat_vector': repeat}


def main(samples=1000, epochs=10, verbose=1):
    """Fit the RepeatVector model (the one with weights); the others only reshape."""
    models = build_models()
    for model in models.values():
        model.compile(optimizer='rmsprop', loss='mse')
    model = models['repeat_vector']
    x = np.random.random((samples, 32))
    y = np.random.random((samples, 3, 32))
    history = model.fit(x, y, nb_epoch=epochs, batch_size=32, verbose=verbose)
    score = model.evaluate(x, y, batch_size=32, verbose=verbose)
    if verbose:
        shapes = {name: m.output_shape for name, m in models.items()}
        print(f"backend {K.backend()}: mse {score}; output shapes {shapes}")
    return model, history, score


if __name__ == "__main__":
    main()
