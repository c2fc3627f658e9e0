"""The configuration matrix: the full product of structural options, numeric options pairwise.

`implementation` is an option of GRU and LSTM only: SimpleRNN has one gate, so its two
implementations would be one layer under two names. Every configuration has a stable, readable
id built from its options, e.g. `lstm-seq-state-bwd-stateful-unroll-i1-holes-bi_concat~relu.hsig.do.nob.h0.adam`
(a SimpleRNN's id has no `i1`/`i2`).
"""
import fnmatch
import functools
import itertools
from dataclasses import asdict, dataclass
from typing import List, Optional, Sequence

from .covering import covering_subset, extend_pairwise, uncovered_pairs

BATCH, STEPS, FEATURES, UNITS = 3, 5, 4, 3
VOCAB = 7

CELLS = ("rnn", "gru_rb", "gru_ra", "lstm")  # gru_rb: reset_after=False; gru_ra: reset_after=True
MASKS = ("nomask", "embed", "holes")  # Embedding(mask_zero) right-padded; Masking with holes
WRAPPERS = ("uni", "bi_concat", "bi_sum", "bi_mul", "bi_ave", "bi_none")
OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adadelta", "adam", "adamax", "nadam")

STRUCTURAL = (
    ("cell", CELLS), ("return_sequences", (False, True)), ("return_state", (False, True)),
    ("go_backwards", (False, True)), ("stateful", (False, True)), ("unroll", (False, True)),
    ("implementation", (1, 2)), ("mask", MASKS), ("wrapper", WRAPPERS),
)
NUMERIC = (
    ("dropout", (0.0, 0.25)), ("recurrent_dropout", (0.0, 0.25)),
    ("activation", ("tanh", "relu", "sigmoid", "linear")),
    ("recurrent_activation", ("sigmoid", "hard_sigmoid")),
    ("use_bias", (True, False)), ("unit_forget_bias", (True, False)),
    ("initial_state", (False, True)), ("dtype", ("float64", "float32")),
    ("optimizer", OPTIMIZERS),
)

_CELL_CLASS = {"rnn": "SimpleRNN", "gru_rb": "GRU", "gru_ra": "GRU", "lstm": "LSTM"}
_SHORT = {"tanh": "tanh", "relu": "relu", "sigmoid": "sig", "linear": "lin", "hard_sigmoid": "hsig"}


@dataclass(frozen=True)
class Config:
    """One configuration: the layer options, the inputs' mask kind, the wrapper, the checks' options."""
    cell: str
    return_sequences: bool
    return_state: bool
    go_backwards: bool
    stateful: bool
    unroll: bool
    implementation: int
    mask: str
    wrapper: str
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    use_bias: bool = True
    unit_forget_bias: bool = True
    initial_state: bool = False
    dtype: str = "float64"
    optimizer: str = "sgd"

    @property
    def id(self) -> str:
        """Stable readable id: structural options, then `~` and the numeric options (dtype aside)."""
        parts = [self.cell, "seq" if self.return_sequences else "last",
                 "state" if self.return_state else "nostate", "bwd" if self.go_backwards else "fwd",
                 "stateful" if self.stateful else "stateless", "unroll" if self.unroll else "loop"]
        parts += ([] if self.cell == "rnn" else [f"i{self.implementation}"]) + [self.mask, self.wrapper]
        numeric = [_SHORT[self.activation]]
        if self.cell != "rnn":
            numeric.append(_SHORT[self.recurrent_activation])
        if self.dropout:
            numeric.append(f"do{self.dropout:g}")
        if self.recurrent_dropout:
            numeric.append(f"rdo{self.recurrent_dropout:g}")
        numeric.append("bias" if self.use_bias else "nobias")
        if self.cell == "lstm":
            numeric.append("fb1" if self.unit_forget_bias else "fb0")
        numeric.append("h0" if self.initial_state else "zero_h0")
        numeric.append(self.optimizer)
        return "-".join(parts) + "~" + ".".join(numeric)

    @property
    def layer_class(self) -> str:
        return _CELL_CLASS[self.cell]

    @property
    def bidirectional(self) -> bool:
        return self.wrapper != "uni"

    @property
    def merge_mode(self) -> Optional[str]:
        return None if self.wrapper == "bi_none" else self.wrapper[3:]

    @property
    def uses_dropout(self) -> bool:
        return bool(self.dropout or self.recurrent_dropout)

    @property
    def state_count(self) -> int:
        return 2 if self.cell == "lstm" else 1

    def uses(self, function: str) -> bool:
        """Whether the layer applies the activation `function` (e.g. 'sigmoid')."""
        used = {self.activation}
        if self.cell != "rnn":
            used.add(self.recurrent_activation)
        return function in used

    def layer_kwargs(self) -> dict:
        """Keyword arguments of the recurrent layer (Keras 2 names, shared by tf_keras)."""
        kwargs = dict(return_sequences=self.return_sequences, return_state=self.return_state,
                      go_backwards=self.go_backwards, stateful=self.stateful, unroll=self.unroll,
                      dropout=self.dropout, recurrent_dropout=self.recurrent_dropout,
                      activation=self.activation, use_bias=self.use_bias)
        if self.cell != "rnn":
            kwargs.update(implementation=self.implementation, recurrent_activation=self.recurrent_activation)
        if self.cell.startswith("gru"):
            kwargs["reset_after"] = self.cell == "gru_ra"
        if self.cell == "lstm":
            kwargs["unit_forget_bias"] = self.unit_forget_bias
        return kwargs

    def replace(self, **changes) -> "Config":
        return Config(**dict(asdict(self), **changes))

    def as_dict(self) -> dict:
        return dict(asdict(self), id=self.id)


@functools.lru_cache(maxsize=1)
def _build() -> tuple:
    names = [n for n, _ in STRUCTURAL]
    rows = [dict(zip(names, values)) for values in itertools.product(*(v for _, v in STRUCTURAL))]
    rows = extend_pairwise(rows, NUMERIC)  # assigned over the whole product, then SimpleRNN's i1 rows dropped
    return tuple(Config(**row) for row in rows if row["cell"] != "rnn" or row["implementation"] == 2)


def configurations() -> List[Config]:
    """Every configuration of the matrix, in a fixed order."""
    return list(_build())


@functools.lru_cache(maxsize=1)
def _quick() -> tuple:
    configs = _build()
    return tuple(configs[i] for i in covering_subset([asdict(c) for c in configs], STRUCTURAL + NUMERIC))


def quick(configs: Optional[Sequence[Config]] = None) -> List[Config]:
    """A few configurations (of the matrix, or of `configs`) that together cover every pair of option values."""
    if configs is None:
        return list(_quick())
    configs = list(configs)
    return [configs[i] for i in covering_subset([asdict(c) for c in configs], STRUCTURAL + NUMERIC)]


def select(pattern: Optional[str] = None, configs: Optional[Sequence[Config]] = None) -> List[Config]:
    """Configurations whose id matches any comma-separated glob or substring in `pattern`."""
    configs = configurations() if configs is None else list(configs)
    if not pattern:
        return configs
    pats = [p.strip() for p in pattern.split(",") if p.strip()]

    def hit(cid):
        return any(fnmatch.fnmatchcase(cid, p) if any(c in p for c in "*?[") else p in cid for p in pats)
    return [c for c in configs if hit(c.id)]


def by_id(config_id: str) -> Config:
    """The configuration with exactly this id (KeyError otherwise)."""
    for c in _build():
        if c.id == config_id:
            return c
    raise KeyError(f"no configuration with id {config_id!r}")


def coverage_gaps() -> list:
    """Pairs of option values (structural and numeric) that no configuration covers; [] expected.
    SimpleRNN with implementation 1 is no gap: that layer is its implementation 2."""
    rows = [asdict(c) for c in _build()]
    return [gap for gap in uncovered_pairs(rows, STRUCTURAL + NUMERIC) if gap != ("cell", "rnn", "implementation", 1)]
