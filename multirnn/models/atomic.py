"""Atomic file writes: a reader, or a save that fails or is killed, never sees a partial file."""
import errno
import os
import re
import secrets
import stat
import time
from typing import BinaryIO, Callable

STALE_AFTER_S = 60.0
_TMP_SUFFIX = ".multirnn-tmp"
_NAME_KEPT = 120  # of the target's name in a temporary's, so that it stays within NAME_MAX


def atomic_write(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Write `path` through `write(fileobj)`: the target is the old file or the complete new one, never a mix.

    The bytes go to a hidden `.NAME.PID-TOKEN.multirnn-tmp` beside the real target (a symlink is
    followed: the link stays, the file it points to is replaced), are fsync'd, get the target's mode
    (a new file: 0o666 & ~umask), replace the target, and the directory is fsync'd. A failed save
    removes its temporary; a killed one cannot, so every save first removes the temporaries of its
    target older than STALE_AFTER_S whose process is gone (a concurrent save keeps its own): orphans
    never pile up, and nothing but our exact pattern is touched.
    """
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file to save to", path)
    folder, name = os.path.split(target)
    _remove_stale_temporaries(folder, name)
    tmp = os.path.join(folder, f".{name[:_NAME_KEPT]}.{os.getpid()}-{secrets.token_hex(4)}{_TMP_SUFFIX}")
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    try:  # never more open than the target was, even while being written
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666 if mode is None else mode)
    except OSError as e:
        raise _naming(e, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.chmod(tmp, mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and tmp in (e.filename, e.filename2):
            raise _naming(e, path) from None
        raise
    _sync_directory(folder)


def _naming(error: OSError, path: str) -> OSError:
    """The same error, naming the target instead of its temporary file."""
    if error.errno is None:
        return type(error)(f"{error} (saving {path})")
    return OSError(error.errno, error.strerror, path)


def _remove_stale_temporaries(folder: str, name: str) -> None:
    """Remove what earlier killed saves of `name` left: our exact pattern, old, its process gone."""
    pattern = re.compile(re.escape(f".{name[:_NAME_KEPT]}.") + r"(\d+)-[0-9a-f]{8}" + re.escape(_TMP_SUFFIX)
                         + r"\Z")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return  # a missing folder is reported when the temporary is created
    now = time.time()
    for entry in entries:
        match = pattern.match(entry.name)
        try:
            if (match and entry.is_file(follow_symlinks=False) and now - entry.stat().st_mtime > STALE_AFTER_S
                    and not _process_alive(int(match.group(1)))):
                os.remove(entry.path)
        except OSError:
            pass  # removed meanwhile by another save, or not ours to remove


def _process_alive(pid: int) -> bool:
    if os.name != "posix":
        return False  # no safe probe: the age alone decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by another user
    return True


def _sync_directory(folder: str) -> None:
    """Make the rename durable; systems and file systems that cannot sync a directory are let be."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF, errno.EACCES, errno.EPERM):
            raise
    finally:
        os.close(fd)
