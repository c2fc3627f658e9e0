"""A configuration's model on one backend, its host inputs, and the scalar loss of the checks.

The model is the optional front layer (Embedding with mask_zero, or Masking), then the
recurrent layer, optionally inside Bidirectional. Inputs are NumPy arrays, the same everywhere.
"""
import contextlib
from typing import List

import numpy as np

from multirnn import backends, layers
from multirnn.backends import host_random

from .matrix import BATCH, FEATURES, STEPS, UNITS, VOCAB, Config

SEED = 1234
BATCH_NAMES = ("A", "B", "C")


def host_inputs(config: Config, dtype: str) -> dict:
    """Three batches of inputs for the config (float features, or token ids for Embedding)."""
    rng = np.random.default_rng(20240601)
    batches = []
    for _ in BATCH_NAMES:
        if config.mask == "embed":
            ids = rng.integers(1, VOCAB, size=(BATCH, STEPS))
            for row, length in enumerate((STEPS, 3, 1)):  # right-padded
                ids[row, length:] = 0
            batches.append(ids.astype(np.int64))
            continue
        x = rng.standard_normal((BATCH, STEPS, FEATURES))
        if config.mask == "holes":
            x[0, [0, 2]] = 0.0  # a leading hole and an inner hole
            x[1] = 0.0  # a fully masked sample
            x[2, STEPS - 1] = 0.0  # a trailing hole
        batches.append(x.astype(dtype))
    states = [rng.standard_normal((BATCH, UNITS)).astype(dtype)
              for _ in range(config.state_count * (2 if config.bidirectional else 1))]
    return {"batches": batches, "initial_state": states if config.initial_state else None}


def loss_weights(shapes: List[tuple], dtype: str) -> List[np.ndarray]:
    """Fixed random projections: loss = sum_k sum(output_k * R_k)."""
    rng = np.random.default_rng(777)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


class Net:
    """The model of `config` built on `backend_name` from `seed`; named trainable weights."""

    def __init__(self, config: Config, backend_name: str, seed: int = SEED):
        self.config, self.backend_name = config, backend_name
        with backends.use(backend_name):
            host_random.set_seed(seed)
            self.front = None
            if config.mask == "embed":
                self.front = layers.Embedding(VOCAB, FEATURES, mask_zero=True)
            elif config.mask == "holes":
                self.front = layers.Masking(0.0)
            cell = getattr(layers, config.layer_class)
            rnn = cell(UNITS, **config.layer_kwargs())
            self.rnn = layers.Bidirectional(rnn, merge_mode=config.merge_mode) if config.bidirectional else rnn
            if self.front is not None:
                self.front._build_once((BATCH, STEPS))
            self.rnn._build_once((BATCH, STEPS, FEATURES))

    @property
    def weights(self) -> list:
        front = self.front.weights if self.front is not None else []
        return front + self.rnn.weights

    def weight_names(self) -> List[str]:
        """Names independent of the layers' unique names: `embeddings`, `kernel`, `bw.bias`, ..."""
        names = ["embeddings"] if self.config.mask == "embed" else []
        subs = [("fw.", self.rnn.forward_layer), ("bw.", self.rnn.backward_layer)] if self.config.bidirectional \
            else [("", self.rnn)]
        for prefix, sub in subs:
            names += [prefix + sub.weight_name(w) for w in sub.weights]
        return names

    def __call__(self, x, training: bool = False, initial_state=None) -> list:
        """The model's outputs as a list (inputs are backend tensors)."""
        with backends.use(self.backend_name):
            mask = None
            if self.front is not None:
                mask = self.front.compute_mask(x)
                x = self.front(x)
            out = self.rnn(x, mask=mask, training=training, initial_state=initial_state)
            return list(out) if isinstance(out, (list, tuple)) else [out]

    def _stateful_layers(self) -> list:
        return [self.rnn.forward_layer, self.rnn.backward_layer] if self.config.bidirectional else [self.rnn]

    def states(self) -> list:
        """The stateful layer's current states (forward then backward for Bidirectional)."""
        return [s for sub in self._stateful_layers() for s in sub.states]

    def set_states(self, states: list) -> None:
        """Put back `states()` (the results of a compiled step, whose trace left graph tensors there)."""
        for sub in self._stateful_layers():
            sub.states, states = list(states[:len(sub.states)]), states[len(sub.states):]

    def reset_states(self) -> None:
        self.rnn.reset_states()

    def sublayers(self) -> list:
        """(name prefix, recurrent layer) pairs: ('', rnn), or ('fw.', forward) and ('bw.', backward)."""
        if self.config.bidirectional:
            return [("fw.", self.rnn.forward_layer), ("bw.", self.rnn.backward_layer)]
        return [("", self.rnn)]

    @contextlib.contextmanager
    def recording_dropout_masks(self):
        """Yield a dict that receives the dropout masks the recurrent layers draw in the block (the last call's):
        `{prefix + 'input' | prefix + 'recurrent': [tensors] or None}`. A layer call draws its input masks,
        then its recurrent masks (`Recurrent.call`); the layers' computation is unchanged. Tensors, not host
        arrays, so that a compiled step can return them."""
        drawn: dict = {}
        for prefix, sub in self.sublayers():
            calls = [0]

            def record(batch, width, level, training, _sub=sub, _prefix=prefix, _calls=calls):
                masks = type(_sub)._masks(_sub, batch, width, level, training)
                kind = ("input", "recurrent")[_calls[0] % 2]
                _calls[0] += 1
                drawn[_prefix + kind] = list(masks) if masks else None
                return masks
            sub._masks = record
        try:
            yield drawn
        finally:
            for _, sub in self.sublayers():
                del sub._masks


def output_shapes(config: Config) -> List[tuple]:
    """The shapes of the model's outputs, in order."""
    width = UNITS * (2 if config.wrapper == "bi_concat" else 1)
    main = (BATCH, STEPS, width) if config.return_sequences else (BATCH, width)
    outs = [main] * (2 if config.wrapper == "bi_none" else 1)
    if config.return_state:
        outs += [(BATCH, UNITS)] * (config.state_count * (2 if config.bidirectional else 1))
    return outs
