"""torch.distributed behind data parallelism: the process group, flat-buffer all-reduce, object gathers.

Gradients cross as torch tensors on the host: NumPy arrays zero-copy (`torch.from_numpy`),
TensorFlow tensors through `.numpy()`, CuPy arrays through DLPack, torch tensors in place.
torch is imported only when a process group is asked for.
"""
import datetime
import os
import sys

import numpy as np

from multirnn.errors import DistributedError

from . import frameworks

ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _dist():
    if not frameworks.HAS_TORCH:
        raise DistributedError("data parallelism runs on torch.distributed, and torch is not installed; "
                               "install it with: pip install 'multirnn[torch]'")
    return frameworks.require("torch").distributed


def initialized() -> bool:
    """Whether a torch.distributed process group exists in this process (never imports torch)."""
    dist = sys.modules.get("torch.distributed")
    return bool(dist is not None and dist.is_available() and dist.is_initialized())


def rank() -> int:
    """This process's rank in the default process group; 0 without one."""
    return sys.modules["torch.distributed"].get_rank() if initialized() else 0


def world_size() -> int:
    return sys.modules["torch.distributed"].get_world_size() if initialized() else 1


def connect(backend, timeout_s: float) -> str:
    """Join the default process group (from RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT when there is none);
    returns its backend name ('gloo' or 'nccl')."""
    dist = _dist()
    if not dist.is_initialized():
        missing = [k for k in ENV if k not in os.environ]
        if missing:
            raise DistributedError(f"DataParallel: no torch.distributed process group and no {', '.join(missing)} in "
                                   "the environment; launch with torchrun (or set RANK, WORLD_SIZE, MASTER_ADDR, "
                                   "MASTER_PORT) or call torch.distributed.init_process_group first")
        if backend is None:
            backend = "nccl" if frameworks.torch_cuda_available() else "gloo"
        try:
            dist.init_process_group(backend=backend, rank=int(os.environ["RANK"]),
                                    world_size=int(os.environ["WORLD_SIZE"]),
                                    timeout=datetime.timedelta(seconds=float(timeout_s)))
        except (RuntimeError, ValueError) as e:
            raise DistributedError(f"DataParallel: could not join the process group at {os.environ['MASTER_ADDR']}:"
                                   f"{os.environ['MASTER_PORT']} as rank {os.environ['RANK']} of "
                                   f"{os.environ['WORLD_SIZE']} within {timeout_s:g}s: {e}") from None
    return str(dist.get_backend())


def _failed(what: str, e: Exception) -> DistributedError:
    return DistributedError(f"DataParallel: rank {rank()} of {world_size()}: {what} failed; another rank stopped, "
                            f"failed or did not answer within the process group's timeout: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}")


def _all_reduce(tensor, what: str) -> None:
    dist = _dist()
    try:
        if dist.get_backend() == "nccl" and not tensor.is_cuda:
            on_gpu = tensor.cuda()
            dist.all_reduce(on_gpu)
            tensor.copy_(on_gpu.cpu())
        else:
            dist.all_reduce(tensor)
    except RuntimeError as e:
        raise _failed(what, e) from None


def all_reduce_sum(array: np.ndarray, what: str) -> np.ndarray:
    """The sum over ranks of a NumPy array (reduced in place, zero-copy through torch)."""
    array = np.ascontiguousarray(array)
    _all_reduce(frameworks.require("torch").from_numpy(array), what)
    return array


def reduce_bucket(grads: list, weight: float, what: str) -> list:
    """Sum `weight * g` over ranks for gradients of one dtype in one flat buffer; torch and CuPy gradients
    are written back in place (returned as they are), others come back as NumPy views of the buffer."""
    torch = frameworks.require("torch")
    kind = _kind(grads[0])
    if kind in ("torch", "cupy"):
        views = [g if kind == "torch" else torch.from_dlpack(g) for g in grads]
        flat = torch.cat([v.reshape(-1) for v in views])
        if flat.is_cuda and _dist().get_backend() != "nccl":
            flat = flat.cpu()
        flat.mul_(weight) if weight else flat.zero_()
        _all_reduce(flat, what)
        offset = 0
        with torch.no_grad():
            for v in views:
                v.copy_(flat[offset:offset + v.numel()].view_as(v))
                offset += v.numel()
        return list(grads)
    arrays = [np.asarray(g if kind == "numpy" else g.numpy()) for g in grads]
    flat = np.empty(sum(a.size for a in arrays), arrays[0].dtype)
    offset = 0
    for a in arrays:
        flat[offset:offset + a.size] = a.reshape(-1)
        offset += a.size
    if weight:
        flat *= weight
    else:
        flat[:] = 0
    _all_reduce(torch.from_numpy(flat), what)
    out, offset = [], 0
    for a in arrays:
        out.append(flat[offset:offset + a.size].reshape(a.shape))
        offset += a.size
    return out


def _kind(g) -> str:
    module = type(g).__module__.split(".")[0]
    if isinstance(g, np.ndarray):
        return "numpy"
    return module if module in ("torch", "cupy") else "tensorflow"


def all_gather_object(value, what: str) -> list:
    """`value` of every rank, in rank order (pickled; for small records and predictions)."""
    dist = _dist()
    out = [None] * dist.get_world_size()
    try:
        dist.all_gather_object(out, value)
    except RuntimeError as e:
        raise _failed(what, e) from None
    return out


def barrier(what: str = "barrier") -> None:
    try:
        _dist().barrier()
    except RuntimeError as e:
        raise _failed(what, e) from None
