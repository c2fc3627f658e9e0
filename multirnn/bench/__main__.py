"""`python -m multirnn.bench`."""
from multirnn.bench.cli import main

main()
