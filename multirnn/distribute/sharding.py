"""How a global batch is split over ranks: contiguous rows, as even as possible, in rank order."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    """Rows [start:stop) of a global batch of `total` samples; `size` 0 means this rank has none."""
    total: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start

    @property
    def weight(self) -> float:
        """This rank's share of the batch mean: its sample count over the global count."""
        return self.size / self.total

    def rows(self) -> slice:
        """The rows this rank runs: its own, or the first row (weighted 0) when it has none."""
        return slice(self.start, self.stop) if self.size else slice(0, min(1, self.total))

    def run_rows(self) -> tuple:
        """(start, stop) of `rows()`, for the random draws of the step."""
        s = self.rows()
        return s.start, s.stop


def split(total: int, rank: int, world: int) -> Shard:
    """The shard of `rank`: the first `total % world` ranks take one sample more."""
    base, extra = divmod(int(total), int(world))
    start = rank * base + min(rank, extra)
    return Shard(int(total), start, start + base + (rank < extra))

