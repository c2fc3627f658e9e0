"""Thread pools, the machine and its GEMM peak, timing and peak memory: what every system shares."""
import ctypes
import gc
import importlib.metadata
import os
import platform
import re
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
LIBRARIES = ("multirnn", "numpy", "torch", "tensorflow", "tf_keras", "keras", "cupy")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def configure_threads(threads: int, frameworks: Sequence[str]) -> List[str]:
    """Give torch and TensorFlow `threads` compute threads (TF before it initialises); notes on what was set.

    Child processes get the same count through THREAD_VARIABLES in their environment as well."""
    notes = []
    if "torch" in frameworks:
        import torch
        torch.set_num_threads(threads)
        notes.append(f"torch intra-op {torch.get_num_threads()}")
    if "tensorflow" in frameworks:
        import tensorflow as tf
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
            notes.append(f"TensorFlow intra-op {threads}, inter-op 1")
        except RuntimeError:
            notes.append("TensorFlow unchanged (already initialised)")
    return notes


def limit_blas(threads: int):
    """Limit every BLAS/OpenMP pool loaded so far (call after the framework imports); None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=threads)


def blas_kernels() -> List[str]:
    """The BLAS libraries loaded: threadpoolctl's library, version and kernel per package; torch's own build."""
    found = []
    try:
        from threadpoolctl import threadpool_info
        for lib in threadpool_info():
            if lib.get("user_api") == "blas":
                owner = os.path.basename(os.path.dirname(lib.get("filepath", ""))).replace(".libs", "")
                text = " ".join(f"{owner}: {lib.get('internal_api')} {lib.get('version') or ''} "
                                f"{lib.get('architecture') or ''} kernel, threads {lib.get('num_threads')}".split())
                if text not in found:
                    found.append(text)
    except ImportError:
        found.append("NumPy: unknown (threadpoolctl not installed)")
    if "torch" in sys.modules:
        import torch
        blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
        found.append(f"torch: {blas.group(1) if blas else '?'}, CPU capability "
                     f"{torch.backends.cpu.get_cpu_capability()}, threads {torch.get_num_threads()}")
    return found


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> Optional[float]:
    """The one-minute load average (other work on the machine skews every figure), or None."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def machine() -> Dict[str, object]:
    return {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "usable_cores": usable_cores(),
            "platform": platform.platform(), "python": platform.python_version(),
            "load_average_before": load_average()}


def versions() -> Dict[str, str]:
    """Installed versions of the libraries that take part (from package metadata; nothing is imported)."""
    distributions = getattr(importlib.metadata, "packages_distributions", dict)()  # Python 3.10+
    found = {}
    for module in LIBRARIES:
        for dist in distributions.get(module, [module])[:1]:
            try:
                found[module] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                pass
    return found


def gemm_peak(size: int = 2048, repeat: int = 5) -> float:
    """The best float32 GFLOP/s of NumPy's `a @ b` for square matrices of `size` at the current threads."""
    rng = np.random.RandomState(0)
    a, b = (rng.rand(size, size).astype(np.float32) for _ in range(2))
    seconds = min(time_calls(lambda: a @ b, warmup=1, repeat=repeat))
    return 2.0 * size ** 3 / seconds / 1e9


def time_calls(fn: Callable[[], object], warmup: int, repeat: int) -> List[float]:
    """Wall-clock seconds of `repeat` calls of `fn`, after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median(times: Sequence[float]) -> float:
    return statistics.median(times)


# ---- peak memory (Linux: /proc; elsewhere ru_maxrss)
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _status_kib("VmHWM")
        return True
    except (OSError, KeyError):
        return False


def _return_free_memory() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


PEAK_METHOD_HWM = ("growth of VmHWM over VmRSS during one training step after a warm-up step "
                   "(peak reset through /proc/self/clear_refs, glibc malloc_trim before)")
PEAK_METHOD_MAXRSS = "growth of getrusage ru_maxrss during the first training step"


def peak_memory_mib(train: Callable[[], object]) -> Tuple[float, str]:
    """Peak resident memory one call of `train` adds, in MiB, and how it was measured."""
    if _reset_peak():
        train()
        _return_free_memory()
        _reset_peak()
        base = _status_kib("VmRSS")
        train()
        return (_status_kib("VmHWM") - base) / 1024.0, PEAK_METHOD_HWM
    import resource
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    train()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    return grown / (1024.0 * 1024.0 if platform.system() == "Darwin" else 1024.0), PEAK_METHOD_MAXRSS
