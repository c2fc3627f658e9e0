# Two commands on a fresh machine:
#   make demo   set up a NumPy-only environment and run the main job (the digits LSTM)
#   make test   set up every backend and oracle, then run what CI runs: the main job, pytest,
#               and the whole conformance matrix (eager TensorFlow and tf_keras: float32 on its covering subset)
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

demo: $(BIN)/python
	$(BIN)/pip install -e ".[examples]"
	$(BIN)/python examples/digits_lstm.py

test: $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[torch,tensorflow,h5,test,examples]"
	$(BIN)/python examples/digits_lstm.py
	$(BIN)/python -m multirnn info
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2
	$(BIN)/python -m multirnn.conformance --dtype both --oracles all --float32-covering tensorflow/generic,tf_keras -j 2 --quiet
