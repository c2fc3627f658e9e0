"""`python -m multirnn.conformance`: see `cli.main`."""
import sys

from .cli import main

sys.exit(main(tune_threads=True))
