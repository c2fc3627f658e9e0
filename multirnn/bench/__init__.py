"""The speed record: multirnn against torch.nn, tf_keras, Keras 3 and a hand-written NumPy BPTT.

`python -m multirnn.bench --help` lists the options; `main(argv)` runs it from Python.
"""
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the benchmark (see `multirnn.bench.cli`); returns what `--json` writes."""
    from multirnn.bench.cli import main as run
    return run(argv)
