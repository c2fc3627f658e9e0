"""Training and inference from a Python generator or a `utils.Sequence` of batches: Keras 2's
`fit_generator`, `evaluate_generator` and `predict_generator`, with Keras 1's sample counts.

Batches are drawn by threads ahead of the model (`workers`, at most `max_queue_size` early): a
Sequence by index, in order, on `workers` threads; a generator on one thread, since a generator
cannot be advanced from two threads at once. `workers=0` draws on the calling thread.
"""
import queue
import threading
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Optional

from multirnn import backend as K
from multirnn.errors import InvalidArgumentError
from multirnn.keras1 import both_spellings
from multirnn.models import data, fit_loop
from multirnn.utils import Sequence


class Batches:
    """The batches of one `*_generator` call, drawn from a generator, an iterator or a Sequence."""

    def __init__(self, source, workers: int, max_queue_size: int, shuffle: bool, owner: str):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
            raise InvalidArgumentError(f"{owner}: workers must be an int >= 0, got {workers!r}")
        if not isinstance(max_queue_size, int) or isinstance(max_queue_size, bool) or max_queue_size < 1:
            raise InvalidArgumentError(f"{owner}: max_queue_size must be an int >= 1, got {max_queue_size!r}")
        self.sequence = source if isinstance(source, Sequence) else None
        if self.sequence is None:
            if not hasattr(source, "__next__"):
                if not hasattr(source, "__iter__"):
                    raise TypeError(f"{owner}: expected a generator, an iterator or a multirnn.utils.Sequence, "
                                    f"got {type(source).__name__}")
                source = iter(source)
            self.iterator = source
        elif len(self.sequence) < 1:
            raise InvalidArgumentError(f"{owner}: the Sequence has no batches (len() is {len(self.sequence)})")
        self.workers, self.max_queue_size, self.shuffle, self.owner = workers, max_queue_size, shuffle, owner
        self._queue, self._thread, self._stop = None, None, threading.Event()

    def steps(self, steps: Optional[int], what: str, samples: Optional[int] = None,
              samples_name: str = "") -> Optional[int]:
        """The number of batches to draw: `steps`, or the Sequence's length; None when Keras 1's `samples` rule."""
        if samples is not None:
            if steps is not None:
                raise TypeError(both_spellings(self.owner, samples_name, what))
            return None
        if steps is None:
            if self.sequence is None:
                raise InvalidArgumentError(f"{self.owner}: {what} is required with a generator "
                                           "(a Sequence knows its length)")
            return len(self.sequence)
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise InvalidArgumentError(f"{self.owner}: {what} must be a positive int, got {steps!r}")
        return steps

    def draw(self) -> Iterator:
        """Batches without end (a Sequence starts a new pass when one is done); stops when a generator does."""
        if self.sequence is not None:
            while True:
                yield from self._sequence_pass()
        elif self.workers == 0:
            for item in self.iterator:  # not `yield from`: closing this draw must not close the user's generator
                yield item
        else:
            yield from self._threaded()

    def _sequence_pass(self) -> Iterator:
        count = len(self.sequence)
        order = K.host_random.generator().permutation(count) if self.shuffle else range(count)
        if self.workers == 0:
            for index in order:
                yield self.sequence[int(index)]
            return
        with ThreadPoolExecutor(self.workers) as pool:
            pending = deque()
            for index in order:
                pending.append(pool.submit(self.sequence.__getitem__, int(index)))
                if len(pending) >= self.max_queue_size:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def _threaded(self) -> Iterator:
        if self._thread is None:
            self._queue = queue.Queue(self.max_queue_size)
            self._thread = threading.Thread(target=self._produce, name="multirnn-batches", daemon=True)
            self._thread.start()
        while True:
            kind, item = self._queue.get()
            if kind == "batch":
                yield item
            elif kind == "end":
                return
            else:
                raise item

    def _produce(self) -> None:
        try:
            for item in self.iterator:
                if not self._put(("batch", item)):
                    return
            self._put(("end", None))
        except BaseException as e:  # handed to the consumer, which raises it
            self._put(("error", e))

    def _put(self, entry) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        self._stop.set()


def _limited(items: Iterator, steps: Optional[int], samples: Optional[int], size_of) -> Iterator:
    """The first items of `items` up to `steps` batches or `samples` samples (Keras 1), never one more."""
    seen = 0
    for k, item in enumerate(items):
        yield item
        seen += size_of(item)
        if (steps is not None and k + 1 >= steps) or (samples is not None and seen >= samples):
            return


def batch_size(x) -> int:
    """Samples in one batch of inputs: an array, a list of arrays or a dict of them."""
    first = next(iter(x.values())) if isinstance(x, dict) else x[0] if isinstance(x, (list, tuple)) else x
    return len(first)


def unpack(item, owner: str, targets: bool = True):
    """`(x, y, sample_weight)` of one drawn batch; without `targets`, the inputs only."""
    if not targets:
        return item[0] if isinstance(item, tuple) and len(item) in (1, 2, 3) else item
    if isinstance(item, tuple) and len(item) in (2, 3):
        return item if len(item) == 3 else (item[0], item[1], None)
    length = f" of length {len(item)}" if isinstance(item, tuple) else ""
    raise InvalidArgumentError(f"{owner}: each batch must be a tuple (x, y) or (x, y, sample_weight), "
                               f"got {type(item).__name__}{length}")


def _ran_out(owner: str, drawn: int, what: str) -> None:
    warnings.warn(f"{owner}: the generator stopped after {drawn} batches, before {what} was reached; "
                  "the remaining steps were not run", RuntimeWarning, stacklevel=4)


def fit_generator(model, generator, steps_per_epoch, samples_per_epoch, epochs, verbose, callbacks,
                  validation_data, validation_steps, validation_samples, class_weight, max_queue_size, workers,
                  shuffle, initial_epoch, on_nonfinite="skip"):
    """Train on batches drawn from `generator`; returns the History callback."""
    owner = f"{model.owner}.fit_generator"
    model.require_compiled("fit_generator")
    batches = Batches(generator, workers, max_queue_size, shuffle, owner)
    steps = batches.steps(steps_per_epoch, "steps_per_epoch", samples_per_epoch, "samples_per_epoch")
    validate, validation_batches = _validation(model, validation_data, validation_steps, validation_samples,
                                               max_queue_size, workers)
    params = {"epochs": epochs, "steps": steps, "samples": samples_per_epoch, "verbose": verbose,
              "do_validation": validate is not None, "metrics": list(model.metrics_names)}
    stream = batches.draw()

    def epoch_batches(epoch):
        drawn = 0
        for item in _limited(stream, steps, samples_per_epoch, lambda b: batch_size(unpack(b, owner)[0])):
            drawn += 1
            x, y, sw = unpack(item, owner)
            yield model.prepare(x, y, sw, class_weight, "fit_generator")
        if (steps is not None and drawn < steps) or drawn == 0:
            _ran_out(owner, drawn, f"steps_per_epoch ({steps}) in epoch {epoch + 1}" if steps
                     else f"samples_per_epoch ({samples_per_epoch}) in epoch {epoch + 1}")
            model.stop_training = True
        if batches.sequence is not None:
            batches.sequence.on_epoch_end()
    try:
        return fit_loop.train_epochs(model, epoch_batches, params, callbacks, verbose, epochs, initial_epoch, validate,
                                     on_nonfinite, "fit_generator")
    finally:
        batches.close()
        if validation_batches is not None:
            validation_batches.close()


def _validation(model, validation_data, steps, samples, max_queue_size, workers):
    """(a function computing the validation logs, the validation Batches) or (None, None)."""
    if validation_data is None:
        return None, None
    if isinstance(validation_data, tuple):
        if len(validation_data) not in (2, 3):
            raise InvalidArgumentError(f"{model.owner}.fit_generator: validation_data must be a generator, a Sequence, "
                                       f"(x_val, y_val) or (x_val, y_val, val_sample_weight); got a tuple of "
                                       f"{len(validation_data)}")
        arrays = model.prepare(validation_data[0], validation_data[1],
                                validation_data[2] if len(validation_data) == 3 else None, None,
                                "fit_generator (validation_data)")
        return (lambda: fit_loop.evaluate_loop(model, *arrays, 32, 0, None)), None
    batches = Batches(validation_data, workers, max_queue_size, False, f"{model.owner}.fit_generator (validation)")
    steps = batches.steps(steps, "validation_steps", samples, "nb_val_samples")
    return (lambda: evaluate_generator(model, batches, steps, samples, 0, None)), batches


def evaluate_generator(model, batches: Batches, steps: Optional[int], samples: Optional[int], verbose,
                       callbacks) -> dict:
    """Loss and metrics over `steps` batches (or `samples` samples) drawn from `batches`."""
    owner = batches.owner
    drawn = []

    def prepared():
        for item in _limited(batches.draw(), steps, samples, lambda b: batch_size(unpack(b, owner)[0])):
            drawn.append(1)
            x, y, sw = unpack(item, owner)
            yield model.prepare(x, y, sw, None, "evaluate_generator")
    params = {"steps": steps, "samples": samples, "verbose": verbose}
    logs = fit_loop.test_batches(model, prepared(), params, verbose, callbacks)
    if not drawn:
        raise InvalidArgumentError(f"{owner}: the generator yielded no batches")
    if steps is not None and len(drawn) < steps:
        _ran_out(owner, len(drawn), f"steps ({steps})")
    return logs


def predict_generator(model, batches: Batches, steps: Optional[int], samples: Optional[int], verbose,
                      callbacks) -> list:
    """The outputs for `steps` batches (or `samples` samples) of inputs drawn from `batches`."""
    owner = batches.owner
    drawn = []

    def prepared():
        for item in _limited(batches.draw(), steps, samples, lambda b: batch_size(unpack(b, owner, False))):
            drawn.append(1)
            xs = model.input_arrays(unpack(item, owner, targets=False), "predict_generator")
            data.check_samples(data.check_lengths({"x": xs}, owner), owner)
            yield xs
    params = {"steps": steps, "samples": samples, "verbose": verbose}
    out = fit_loop.predict_batches(model, prepared(), params, verbose, callbacks)
    if not drawn:
        raise InvalidArgumentError(f"{owner}: the generator yielded no batches")
    if steps is not None and len(drawn) < steps:
        _ran_out(owner, len(drawn), f"steps ({steps})")
    return out
