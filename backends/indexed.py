"""IndexedRows: a gradient that is zero except at some rows, as tf.IndexedSlices, on every backend."""


class IndexedRows:
    """`values[k]` belongs at row `indices[k]` of a tensor of `shape`; repeated rows add up.

    `indices` is 1-D, `values` is (len(indices),) + shape[1:]; both are tensors of one backend."""
    __slots__ = ("indices", "values", "shape")

    def __init__(self, indices, values, shape):
        self.indices, self.values, self.shape = indices, values, tuple(shape)

    def __repr__(self):
        return f"<IndexedRows {len(self.indices)} row(s) of shape {self.shape}>"
