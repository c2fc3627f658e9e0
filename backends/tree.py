"""Nested lists, tuples and dicts of values: one walker for every backend and the front end."""


def map_structure(fn, tree, is_leaf=None):
    """`fn` applied to every leaf of nested lists, tuples and dicts, the structure kept."""
    if is_leaf is not None and is_leaf(tree):
        return fn(tree)
    if isinstance(tree, (list, tuple)):
        return type(tree)(map_structure(fn, t, is_leaf) for t in tree)
    if isinstance(tree, dict):
        return {k: map_structure(fn, v, is_leaf) for k, v in tree.items()}
    return fn(tree)
