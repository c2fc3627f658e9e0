"""The whole models of the models section: the seed examples without convolutions, in miniature.

Each builder takes a Keras-2 namespace (`multirnn` or `tf_keras`: `layers`, `models`) and returns the
uncompiled model; every layer with weights is named, so weights move between frameworks by name.
Each model comes with its data (a number of samples its batch size does not divide, except the
stateful stack, whose batch is fixed) and its losses.
"""
from dataclasses import dataclass
from typing import Callable, List, Optional

import numpy as np

STEPS, FEATURES, UNITS, CLASSES, VOCAB = 5, 3, 4, 3, 8


@dataclass(frozen=True)
class ModelSpec:
    """A model of the section: how to build it, its losses, its data and how it is fitted."""
    name: str
    build: Callable
    loss: object
    data: Callable  # (dtype) -> (inputs list, targets list)
    batch_size: int = 4
    loss_weights: Optional[List[float]] = None
    stateful: bool = False
    uses_embedding: bool = False
    dropout: bool = False  # trained with dropout: multirnn's masks are replayed in tf_keras (fit_masks)
    notes: str = ""


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, name)) * 7919)


def _sequences(rng, samples, dtype):
    return rng.standard_normal((samples, STEPS, FEATURES)).astype(dtype)


def _one_hot(rng, samples, dtype):
    return np.eye(CLASSES, dtype=dtype)[rng.integers(0, CLASSES, samples)]


def _padded_ids(rng, samples):
    """Token ids 1..VOCAB-1, right-padded with 0 to lengths between 1 and STEPS (mask_zero)."""
    ids = rng.integers(1, VOCAB, size=(samples, STEPS))
    for row, length in enumerate(rng.integers(1, STEPS + 1, samples)):
        ids[row, length:] = 0
    return ids.astype(np.int32)


# ---- builders (the same code builds the multirnn and the tf_keras model)

def lstm_sequence_classification(k):
    """Guide 3.5.5: Embedding -> LSTM (sigmoid, hard_sigmoid, with dropout) -> Dropout(0.5) -> softmax."""
    L = k.layers
    model = k.models.Sequential()
    model.add(L.Embedding(VOCAB, FEATURES, input_length=STEPS, name="embedding"))
    model.add(L.LSTM(UNITS, activation="sigmoid", recurrent_activation="hard_sigmoid", dropout=0.25,
                     recurrent_dropout=0.25, name="lstm"))
    model.add(L.Dropout(0.5, name="dropout"))
    model.add(L.Dense(CLASSES, activation="softmax", name="dense"))
    return model


def gru_dropout_classifier(k):
    """Float sequences -> GRU (reset_after=False, implementation=2, both dropouts) -> Dropout -> softmax."""
    L = k.layers
    model = k.models.Sequential()
    model.add(L.GRU(UNITS, reset_after=False, implementation=2, dropout=0.25, recurrent_dropout=0.25,
                    input_shape=(STEPS, FEATURES), name="gru"))
    model.add(L.Dropout(0.5, name="dropout"))
    model.add(L.Dense(CLASSES, activation="softmax", name="dense"))
    return model


def stacked_lstm(k):
    """Guide 3.5.6: two LSTMs return sequences, the third its last step, softmax over the classes."""
    L = k.layers
    model = k.models.Sequential()
    model.add(L.LSTM(UNITS, return_sequences=True, input_shape=(STEPS, FEATURES), name="lstm_1"))
    model.add(L.LSTM(UNITS, return_sequences=True, name="lstm_2"))
    model.add(L.LSTM(UNITS, name="lstm_3"))
    model.add(L.Dense(CLASSES, activation="softmax", name="dense"))
    return model


def stateful_stacked_lstm(k, batch_size=4):
    """Guide 3.5.7: the same stack, stateful, with a fixed batch."""
    L = k.layers
    model = k.models.Sequential()
    model.add(L.LSTM(UNITS, return_sequences=True, stateful=True, batch_input_shape=(batch_size, STEPS, FEATURES),
                     name="lstm_1"))
    model.add(L.LSTM(UNITS, return_sequences=True, stateful=True, name="lstm_2"))
    model.add(L.LSTM(UNITS, stateful=True, name="lstm_3"))
    model.add(L.Dense(CLASSES, activation="softmax", name="dense"))
    return model


def merged_lstm_encoders(k):
    """Guide 3.5.8 (functional): two LSTM encoders, concatenated, then Dense relu and softmax."""
    L = k.layers
    a, b = L.Input(shape=(STEPS, FEATURES), name="seq_a"), L.Input(shape=(STEPS, FEATURES), name="seq_b")
    merged = L.concatenate([L.LSTM(UNITS, name="encoder_a")(a), L.LSTM(UNITS, name="encoder_b")(b)])
    hidden = L.Dense(UNITS, activation="relu", name="hidden")(merged)
    return k.models.Model(inputs=[a, b], outputs=L.Dense(CLASSES, activation="softmax", name="out")(hidden))


def headline_multi_io(k):
    """Guide 4.2: Embedding -> LSTM with an auxiliary output, an extra input merged in, two outputs."""
    L = k.layers
    main_input = L.Input(shape=(STEPS,), dtype="int32", name="main_input")
    lstm_out = L.LSTM(UNITS, name="lstm")(L.Embedding(VOCAB, FEATURES, name="embedding")(main_input))
    aux_output = L.Dense(1, activation="sigmoid", name="aux_output")(lstm_out)
    aux_input = L.Input(shape=(2,), name="aux_input")
    x = L.concatenate([lstm_out, aux_input])
    x = L.Dense(UNITS, activation="relu", name="hidden")(x)
    main_output = L.Dense(1, activation="sigmoid", name="main_output")(x)
    return k.models.Model(inputs=[main_input, aux_input], outputs=[main_output, aux_output])


def shared_lstm(k):
    """Guide 4.3: one LSTM encodes both inputs; concatenated; logistic regression."""
    L = k.layers
    a, b = L.Input(shape=(STEPS, FEATURES), name="tweet_a"), L.Input(shape=(STEPS, FEATURES), name="tweet_b")
    shared = L.LSTM(UNITS, name="shared_lstm")
    merged = L.concatenate([shared(a), shared(b)])
    return k.models.Model(inputs=[a, b], outputs=L.Dense(1, activation="sigmoid", name="out")(merged))


def _embed_classifier(cell):
    def build(k):
        L = k.layers
        model = k.models.Sequential()
        model.add(L.Embedding(VOCAB, FEATURES, mask_zero=True, input_length=STEPS, name="embedding"))
        model.add(getattr(L, cell)(UNITS, name="recurrent"))
        model.add(L.Dense(CLASSES, activation="softmax", name="dense"))
        return model
    build.__doc__ = f"Embedding(mask_zero=True) -> {cell} -> Dense softmax."
    return build


# ---- data

def _single(name, samples=10):
    def data(dtype):
        rng = _rng(name)
        return [_sequences(rng, samples, dtype)], [_one_hot(rng, samples, dtype)]
    return data


def _pair(name, binary, samples=10):
    def data(dtype):
        rng = _rng(name)
        xs = [_sequences(rng, samples, dtype), _sequences(rng, samples, dtype)]
        y = rng.integers(0, 2, (samples, 1)).astype(dtype) if binary else _one_hot(rng, samples, dtype)
        return xs, [y]
    return data


def _multi_io(dtype, samples=10):
    rng = _rng("headline_multi_io")
    ids = rng.integers(1, VOCAB, size=(samples, STEPS)).astype(np.int32)
    labels = rng.integers(0, 2, (samples, 1)).astype(dtype)
    return [ids, rng.standard_normal((samples, 2)).astype(dtype)], [labels, labels]


def _embedded(name, sparse, samples=10):
    def data(dtype):
        rng = _rng(name)
        ids = _padded_ids(rng, samples)
        labels = rng.integers(0, CLASSES, (samples, 1)) if sparse else None
        return [ids], [labels.astype(dtype) if sparse else _one_hot(rng, samples, dtype)]
    return data


def _ids(name, samples=10):
    def data(dtype):
        rng = _rng(name)
        return [rng.integers(0, VOCAB, size=(samples, STEPS)).astype(np.int32)], [_one_hot(rng, samples, dtype)]
    return data


SPECS = (
    ModelSpec("lstm_sequence_classification", lstm_sequence_classification, "categorical_crossentropy",
              _ids("lstm_sequence_classification"), uses_embedding=True, dropout=True),
    ModelSpec("gru_dropout_classifier", gru_dropout_classifier, "categorical_crossentropy",
              _single("gru_dropout_classifier"), dropout=True,
              notes="no Embedding: every optimizer is compared with dropout in training"),
    ModelSpec("stacked_lstm", stacked_lstm, "categorical_crossentropy", _single("stacked_lstm")),
    ModelSpec("stateful_stacked_lstm", stateful_stacked_lstm, "categorical_crossentropy",
              _single("stateful_stacked_lstm", samples=8), stateful=True,
              notes="stateful: the batch is fixed, so it divides the data (8 samples, batches of 4)"),
    ModelSpec("merged_lstm_encoders", merged_lstm_encoders, "categorical_crossentropy",
              _pair("merged_lstm_encoders", binary=False)),
    ModelSpec("headline_multi_io", headline_multi_io, "binary_crossentropy", _multi_io,
              loss_weights=[1.0, 0.2], uses_embedding=True),
    ModelSpec("shared_lstm", shared_lstm, "binary_crossentropy", _pair("shared_lstm", binary=True)),
    ModelSpec("embed_mask_lstm", _embed_classifier("LSTM"), "categorical_crossentropy",
              _embedded("embed_mask_lstm", sparse=False), uses_embedding=True),
    ModelSpec("embed_mask_gru", _embed_classifier("GRU"), "sparse_categorical_crossentropy",
              _embedded("embed_mask_gru", sparse=True), uses_embedding=True),
    ModelSpec("embed_mask_simple_rnn", _embed_classifier("SimpleRNN"), "categorical_crossentropy",
              _embedded("embed_mask_simple_rnn", sparse=False), uses_embedding=True),
)


SPECS_BY_NAME = {spec.name: spec for spec in SPECS}


def by_name(name: str) -> ModelSpec:
    """The model of the section called `name` (KeyError naming the known ones otherwise)."""
    if name in SPECS_BY_NAME:
        return SPECS_BY_NAME[name]
    raise KeyError(f"no model {name!r} in the models section; known: {', '.join(s.name for s in SPECS)}")
