"""Data-parallel training on torch.distributed: `DataParallel`, and the rank of this process."""
from multirnn import backend as K
from multirnn.distribute.strategy import DataParallel, current, is_writer


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return K.collectives.rank()


def world_size() -> int:
    """The number of processes in the group (1 without one)."""
    return K.collectives.world_size()


def barrier() -> None:
    """Wait until every rank gets here (e.g. before another rank reads what rank 0 saved)."""
    if K.collectives.initialized():
        K.collectives.barrier()


__all__ = ["DataParallel", "current", "is_writer", "rank", "world_size", "barrier"]
