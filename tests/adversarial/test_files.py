"""Damaged, incomplete and misfitting files: one clear FileFormatError naming the file and the fault;
a failed load, optimizer restore or reset_states changes nothing; saves are atomic, keep the mode,
follow symlinks and leave no temporary behind, even after a kill."""
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import BACKENDS, needs_h5py
from tamper import read_manifest, write_manifest

from multirnn import backends, optimizers
from multirnn.backends import host_random
from multirnn.errors import FileFormatError, InvalidArgumentError, WeightMismatchError
from multirnn.layers import LSTM, Dense, SimpleRNN
from multirnn.models import Sequential, atomic, h5_format, load_model, saving

SUFFIXES = [".npz", pytest.param(".h5", marks=needs_h5py)]
ROOT = Path(__file__).resolve().parents[2]
X, Y = np.ones((2, 4, 3)), np.ones((2, 2))


def _model(backend="numpy", out=2, seed=1, compiled=False):
    with backends.use(backend):
        host_random.set_seed(seed)
        model = Sequential([SimpleRNN(3, input_shape=(4, 3), name="rnn"), Dense(out, name="out")])
        if compiled:
            model.compile("adam", "mse")
            model.fit(X, Y, verbose=0)
        return model


def _snapshot(model) -> list:
    return [w.tobytes() for w in model.get_weights()]


def _edit_arrays(path: str, change) -> None:
    """Rewrite the file with `change(arrays)` applied to {npz key or h5 dataset path: array}."""
    if path.endswith(".h5"):
        import h5py
        with h5py.File(path, "a") as f:
            change(_H5Arrays(f))
        return
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    change(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


class _H5Arrays:
    """The npz keys (`layer1_weight0`, `optimizer2`) mapped onto an h5 file's datasets."""

    def __init__(self, f):
        self.f, self.group = f, f["model_weights"] if "model_weights" in f else f

    def _where(self, key):
        if key.startswith("optimizer"):
            return self.f["optimizer_weights"], f"optimizer/{key[len('optimizer'):]}"
        i, j = map(int, re.findall(r"\d+", key))
        layer = self.group[self.group.attrs["layer_names"][i].decode()]
        return layer, layer.attrs["weight_names"][j].decode()

    def __getitem__(self, key):
        group, name = self._where(key)
        return np.asarray(group[name])

    def __setitem__(self, key, value):
        group, name = self._where(key)
        del group[name]
        group.create_dataset(name, data=value)

    def pop(self, key):
        group, name = self._where(key)
        del group[name]


# ---- a failed operation changes nothing
@pytest.mark.parametrize("how", ["by order", "by name", "skip_mismatch"])
@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_load_weights_writes_no_layer(tmp_path, backend, suffix, how):
    path = str(tmp_path / f"w{suffix}")
    _model(backend).save_weights(path)
    if how == "skip_mismatch":  # shapes fit, so nothing is skipped, but the last layer's kernel is not float
        _edit_arrays(path, lambda a: a.__setitem__("layer1_weight0", np.ones((3, 2), dtype=np.int64)))
    target = _model(backend, out=2 if how == "skip_mismatch" else 5, seed=2)
    before = _snapshot(target)
    expected = "expects a float32 array, got dtype int64" if how == "skip_mismatch" else r"expects shape \(3, 5\)"
    with pytest.raises(WeightMismatchError, match=f"loading weights of 'out' from {re.escape(path)} into layer "
                                                  f"'out': weight 'kernel' {expected}.*nothing was loaded"):
        target.load_weights(path, by_name=how != "by order", skip_mismatch=how == "skip_mismatch")
    assert _snapshot(target) == before


def _stepped(K, cls=optimizers.Adam):
    variables = [K.variable(np.ones((3, 2))), K.variable(np.zeros(2))]
    opt = cls()
    for _ in range(2):
        opt.apply_gradients([(K.constant(np.full((3, 2), 0.5)), variables[0]), (K.constant(np.full(2, 0.1)),
                                                                                 variables[1])])
    return opt, variables


ADAM, NADAM = optimizers.Adam, optimizers.Nadam
BAD_STATES = {  # (optimizer, change to get_weights(), the error)
    "step count of shape (2,)": (ADAM, lambda s: [np.array([1, 2])] + s[1:], r"step count.*shape \(2,\)"),
    "negative step count": (ADAM, lambda s: [np.array(-1)] + s[1:], "non-negative whole number.*-1"),
    "last slot's shape": (ADAM, lambda s: s[:-1] + [np.zeros(3)], r"slot 'v' \(array 3\) expects shape \(2,\)"),
    "last slot's dtype": (ADAM, lambda s: s[:-1] + [s[-1].astype(np.int32)], "slot 'v'.*got dtype int32"),
    "slot count": (ADAM, lambda s: s + s[1:3], "are 6 arrays .*need 4"),
    "Nadam's schedule": (NADAM, lambda s: s[:1] + [np.zeros(2)] + s[2:], r"state array 1 .*shape \(\)"),
}


@pytest.mark.parametrize("case", BAD_STATES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_optimizer_restore_changes_nothing(backend, case):
    cls, change, message = BAD_STATES[case]
    with backends.use(backend) as K:
        opt, _ = _stepped(K, cls)
        before = [w.tobytes() for w in opt.get_weights()]
        other = [np.array(7)] + [w * 2 for w in opt.get_weights()[1:]]  # valid, and different everywhere
        with pytest.raises(InvalidArgumentError, match=f"{cls.__name__}.set_weights: .*{message}"):
            opt.set_weights(change(other))
        assert opt.iterations == 2 and [w.tobytes() for w in opt.get_weights()] == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_pending_slots_are_checked_before_the_first_step_changes_anything(backend):
    with backends.use(backend) as K:
        state = _stepped(K)[0].get_weights()
        fresh, variables = optimizers.Adam(), [K.variable(np.ones((3, 2))), K.variable(np.zeros(2))]
        fresh.set_weights(state[:-1] + [np.zeros((2, 2))])  # the variables are not known yet
        with pytest.raises(InvalidArgumentError, match="slot 'v' \\(array 3\\) \\(restored before the first step\\) "
                                                       "expects shape \\(2,\\), got an array of shape \\(2, 2\\)"):
            fresh.apply_gradients(zip([K.constant(np.ones((3, 2))), K.constant(np.ones(2))], variables))
        assert fresh.iterations == 2 and len(fresh.get_weights()) == 1  # no slot was made
        assert [K.to_numpy(v).tolist() for v in variables] == [np.ones((3, 2)).tolist(), [0.0, 0.0]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_reset_states_changes_no_state(backend):
    with backends.use(backend) as K:
        model = Sequential([LSTM(2, stateful=True, batch_input_shape=(3, 4, 5))])
        layer, good, other = model.layers[0], [np.full((3, 2), 1.5), np.full((3, 2), -2.5)], np.full((3, 2), 9.0)
        layer.reset_states(good)
        for bad, message in (([other, np.zeros((3, 3))], r"state 1 must have shape \(3, 2\), got \(3, 3\)"),
                             ([other], r"expected 2 state tensor\(s\) of sizes \[2, 2\], got 1")):
            with pytest.raises(ValueError, match=f"LSTM '{layer.name}': {message}"):
                layer.reset_states(bad)
            for state, expected in zip(layer.states, good):
                np.testing.assert_array_equal(K.to_numpy(state), expected)


# ---- damaged and incomplete files: one FileFormatError naming the file and the fault
def _saved(tmp_path, suffix) -> str:
    path = str(tmp_path / f"model{suffix}")
    _model(compiled=True).save(path)
    return path


def _flip_inside(path, needle: bytes):
    data = bytearray(Path(path).read_bytes())
    at = data.index(needle) + len(needle) // 2
    data[at] ^= 0xFF
    Path(path).write_bytes(bytes(data))


def _truncate(path):
    Path(path).write_bytes(Path(path).read_bytes()[:os.path.getsize(path) // 2])


def _flip_kernel(path):
    with np.load(path) as npz:
        _flip_inside(path, npz["layer1_weight0"].tobytes())


def _bad_heap(path):
    data = Path(path).read_bytes()
    at = data.index(b"HEAP") + 8
    Path(path).write_bytes(data[:at] + b"\xff" * 16 + data[at + 16:])


def _garbage_after_magic(path):
    Path(path).write_bytes(Path(path).read_bytes()[:8] + np.random.RandomState(0).bytes(4000))


def _manifest_without(*keys):
    def change(path):
        manifest = read_manifest(path)
        target = manifest
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]
        write_manifest(path, manifest)
    return change


def _h5_without_attr(group, attr):
    def change(path):
        import h5py
        with h5py.File(path, "a") as f:
            del f[group].attrs[attr]
    return change


DAMAGE = {  # name: {suffix: (change to the file, what the error says)}
    "empty": {s: (lambda p: Path(p).write_bytes(b""), r"is empty \(0 bytes\)") for s in (".npz", ".h5")},
    "truncated": {".npz": (_truncate, r"a damaged or truncated \.npz file, not a readable zip archive"),
                  ".h5": (_truncate, "h5py cannot open this HDF5 file: damaged or truncated.*truncated file")},
    "flipped bytes": {".npz": (_flip_kernel, r"weight 'out/kernel' of layer 'out' \(array 'layer1_weight0'\) is "
                                             "damaged: Bad CRC-32"),
                      ".h5": (_bad_heap, "a damaged HDF5 file, reading it failed.*heap")},
    "garbage after the magic": {".h5": (_garbage_after_magic, "h5py cannot open")},
    "no format": {s: (_manifest_without("format"), "'format' must be one of 'multirnn-weights', 'multirnn-model', "
                                                   "got no 'format'") for s in (".npz", ".h5")},
    "no model_config": {".npz": (_manifest_without("model_config"), "needs 'model_config' .*got no 'model_config'"),
                        ".h5": (_h5_without_attr("/", "model_config"), "without its 'model_config' attribute")},
    "no layers": {".npz": (_manifest_without("layers"), "'layers' .* must be a list, got no 'layers'"),
                  ".h5": (_h5_without_attr("model_weights", "layer_names"), "no 'layer_names' attribute")},
    "a layer without weights": {
        ".npz": (_manifest_without("layers", 1, "weights"), "layer 1 of the manifest needs 'weights'"),
        ".h5": (_h5_without_attr("model_weights/out", "weight_names"), "layer 'out' holds weights but no "
                                                                      "'weight_names'")},
    "a missing weight": {s: (lambda p: _edit_arrays(p, lambda a: a.pop("layer1_weight1")),
                             "weight 'out/bias(:0)?' of layer 'out' is missing") for s in (".npz", ".h5")},
    "a missing optimizer array": {
        ".npz": (lambda p: _edit_arrays(p, lambda a: a.pop("optimizer1")), "optimizer state array 1 is missing"),
        ".h5": (lambda p: _edit_arrays(p, lambda a: a.pop("optimizer1")),
                "optimizer state 'optimizer/1' is missing")},
    "a weight of the wrong dtype": {s: (
        lambda p: _edit_arrays(p, lambda a: a.__setitem__("layer1_weight1", np.array([b"a", b"b"]))),
        "into layer 'out': weight 'bias' expects a float32 array, got dtype \\|S1") for s in (".npz", ".h5")},
    "a weight of the wrong shape": {s: (
        lambda p: _edit_arrays(p, lambda a: a.__setitem__("layer0_weight0", np.zeros((3, 4), "float32"))),
        r"into layer 'rnn': weight 'kernel' expects shape \(3, 3\), got \(3, 4\)") for s in (".npz", ".h5")},
    "an optimizer slot of the wrong shape": {s: (
        lambda p: _edit_arrays(p, lambda a: a.__setitem__("optimizer2", np.zeros(7))),
        r"saved optimizer state does not fit the model: Adam.set_weights: slot 'm' \(array 1\) expects shape "
        r"\(3, 3\), got an array of shape \(7,\)") for s in (".npz", ".h5")},
}
CASES = [pytest.param(name, suffix, marks=[needs_h5py] if suffix == ".h5" else [], id=f"{name}-{suffix[1:]}")
         for name, by_suffix in DAMAGE.items() for suffix in by_suffix]


@pytest.mark.parametrize("name, suffix", CASES)
def test_a_damaged_file_is_one_clear_error(tmp_path, name, suffix):
    path = _saved(tmp_path, suffix)
    change, message = DAMAGE[name][suffix]
    change(path)
    with pytest.raises(FileFormatError, match=re.escape(path) + ".*" + message) as error:
        load_model(path)
    assert error.value.__cause__ is None
    if name != "an optimizer slot of the wrong shape":  # load_weights does not restore the optimizer
        with pytest.raises(FileFormatError, match=re.escape(path) + ".*" + message):
            _model(seed=3).load_weights(path)


def test_misfitting_weights_are_the_same_error_on_every_backend(tmp_path):
    path = _saved(tmp_path, ".npz")
    _edit_arrays(path, lambda a: a.__setitem__("layer1_weight0", np.zeros((3, 4), "float32")))
    messages = set()
    for backend in BACKENDS:
        with backends.use(backend), pytest.raises(WeightMismatchError) as error:
            load_model(path)
        messages.add(re.sub("Sequential '[^']*'", "Sequential", str(error.value)))
    assert messages == {f"Sequential: loading weights of 'out' from {path} into layer 'out': weight 'kernel' "
                        "expects shape (3, 2), got (3, 4); nothing was loaded"}


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_directory_and_a_missing_path_are_named(tmp_path, suffix):
    folder = tmp_path / f"folder{suffix}"
    folder.mkdir()
    with pytest.raises(FileFormatError, match=f"{re.escape(str(folder))} is a directory"):
        load_model(str(folder))
    missing = str(tmp_path / f"missing{suffix}")
    with pytest.raises(FileNotFoundError, match=re.escape(missing)) as error:
        load_model(missing)
    assert error.value.filename == missing


# ---- atomic saves
def _leftovers(folder) -> list:
    return sorted(n for n in os.listdir(folder) if atomic._TMP_SUFFIX in n)


@pytest.mark.parametrize("interruption", [OSError("disk full"), KeyboardInterrupt()], ids=["OSError", "Ctrl-C"])
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_save_interrupted_mid_write_keeps_the_old_file(tmp_path, monkeypatch, suffix, interruption):
    path = tmp_path / f"model{suffix}"
    model = _model()
    model.save(str(path))
    before = path.read_bytes()

    def broken(f, *args):
        f.write(b"partial")
        raise interruption
    monkeypatch.setattr(saving, "_write_npz", broken)
    monkeypatch.setattr(h5_format, "write", broken)
    with pytest.raises(type(interruption)):
        model.save(str(path))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


KILLED_SAVE = """
import os, signal, sys
from multirnn.layers import Dense
from multirnn.models import Sequential, saving
def killed(f, *args):
    f.write(b"partial")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
saving._write_npz = killed
Sequential([Dense(2, input_dim=3)]).save(sys.argv[1])
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and process probes are POSIX")
def test_the_temporary_of_a_killed_save_is_removed_by_the_next_save(tmp_path):
    path = tmp_path / "model.npz"
    _model().save(str(path))
    before = path.read_bytes()
    run = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(path)], cwd=ROOT, capture_output=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    assert path.read_bytes() == before
    [orphan] = _leftovers(tmp_path)
    assert re.fullmatch(r"\.model\.npz\.\d+-[0-9a-f]{8}\.multirnn-tmp", orphan)
    dead_pid = re.findall(r"\d+", orphan)[0]
    old = time.time() - 2 * atomic.STALE_AFTER_S
    os.utime(tmp_path / orphan, (old, old))
    kept = {".model.npz.1-0000abcd.multirnn-tmp.bak": old,  # not our exact pattern
            ".other.npz.%s-0000abcd.multirnn-tmp" % dead_pid: old,  # another target's
            ".model.npz.%s-0000abcd.multirnn-tmp" % dead_pid: time.time(),  # too young: a save may be under way
            ".model.npz.%d-0000abcd.multirnn-tmp" % os.getpid(): old}  # its process still runs
    for name, mtime in kept.items():
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (mtime, mtime))
    _model(seed=5).save(str(path))
    assert sorted(os.listdir(tmp_path)) == sorted(["model.npz", *kept])
    np.testing.assert_array_equal(load_model(str(path)).get_weights()[0], _model(seed=5).get_weights()[0])


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_a_new_file_gets_the_umask_mode_and_an_existing_one_keeps_its_mode(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        path = tmp_path / "model.npz"
        _model().save(str(path))
        assert path.stat().st_mode & 0o7777 == mode
        os.chmod(path, 0o604)
        _model().save_weights(str(path))
        assert path.stat().st_mode & 0o7777 == 0o604
    finally:
        os.umask(previous)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_saving_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    real, link = tmp_path / "real" / "model.npz", tmp_path / "link.npz"
    _model().save(str(real))
    os.symlink(os.path.join("real", "model.npz"), link)
    _model(seed=4).save(str(link))
    assert os.path.islink(link) and os.readlink(link) == os.path.join("real", "model.npz")
    np.testing.assert_array_equal(load_model(str(real)).get_weights()[0], _model(seed=4).get_weights()[0])
    assert os.listdir(tmp_path / "real") == ["model.npz"] and sorted(os.listdir(tmp_path)) == ["link.npz", "real"]
    os.remove(real)  # a dangling link: the file it names is created
    _model().save(str(link))
    assert os.path.islink(link) and real.is_file()


def test_save_errors_name_the_target_not_the_temporary(tmp_path):
    missing = str(tmp_path / "no-such-folder" / "model.npz")
    with pytest.raises(FileNotFoundError) as error:
        _model().save(missing)
    assert error.value.filename == missing and atomic._TMP_SUFFIX not in str(error.value)
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=re.escape(str(folder))):
        _model().save(str(folder))
    assert os.listdir(folder) == [] and _leftovers(tmp_path) == []


def test_the_file_is_synced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events, fsync, replace = [], os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("dir" if _is_dir(fd) else "file"), fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), replace(a, b)))
    _model().save(str(tmp_path / "model.npz"))
    assert events == ["file", "replace", "dir"]


def _is_dir(fd) -> bool:
    return stat.S_ISDIR(os.fstat(fd).st_mode)
