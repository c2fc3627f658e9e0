"""Gradients all-reduced in a few flat buffers (buckets), grouped by dtype, not one call per weight."""
from typing import List

import numpy as np

from multirnn import backend as K

BUCKET_MB = 25.0  # as torch DistributedDataParallel's default


def plan(dtypes: list, sizes: list, bucket_bytes: float) -> List[List[int]]:
    """Indices of the gradients in each bucket: consecutive ones of one dtype up to `bucket_bytes`."""
    buckets, open_ = [], {}
    for i, (dtype, size) in enumerate(zip(dtypes, sizes)):
        nbytes = size * np.dtype(dtype).itemsize
        bucket = open_.get(dtype)
        if bucket is None or (bucket[1] + nbytes > bucket_bytes and bucket[0]):
            bucket = open_[dtype] = [[], 0]
            buckets.append(bucket[0])
        bucket[0].append(i)
        bucket[1] += nbytes
    return buckets


def reduce_gradients(grads: list, weight: float, bucket_mb: float, what: str) -> list:
    """Sum over ranks of `weight * g` for every gradient (None stays None), bucket by bucket.

    An indexed (row-sparse) gradient crosses dense, with a column marking its rows; it comes back
    indexed by the rows present on any rank, so the optimizers' sparse updates touch the rows one
    process would (repeated rows arrive summed)."""
    indexed = {i: g for i, g in enumerate(grads) if g is not None and K.is_indexed(g)}
    if indexed:
        grads = [K.densify(g) if i in indexed else g for i, g in enumerate(grads)]
        marks = [K.densify(K.indexed(g.indices, K.ones((K.int_shape(g.indices)[0], 1), K.dtype(g.values)),
                                     (g.shape[0], 1))) for g in indexed.values()]
        reduced = reduce_gradients(grads + marks, weight, bucket_mb, what)
        out, marks = reduced[:len(grads)], reduced[len(grads):]
        for (i, g), mark in zip(indexed.items(), marks):
            rows = np.flatnonzero(np.asarray(K.to_numpy(mark))[:, 0] > 0)
            index = K.constant(rows, "int64")
            out[i] = K.indexed(index, K.gather(out[i], index), g.shape)
        return out
    present = [i for i, g in enumerate(grads) if g is not None]
    dtypes = [str(K.dtype(grads[i])) for i in present]
    sizes = [int(np.prod(K.int_shape(grads[i]), dtype=np.int64)) for i in present]
    out = list(grads)
    for bucket in plan(dtypes, sizes, bucket_mb * 2 ** 20):
        members = [present[j] for j in bucket]
        reduced = K.collectives.reduce_bucket([grads[i] for i in members], weight, what)
        for i, r in zip(members, reduced):
            out[i] = r if r is grads[i] else K.constant(r, dtypes[present.index(i)])
    return out
