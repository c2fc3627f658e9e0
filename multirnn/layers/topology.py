"""The node graph behind the functional API: ordering, running with masks, shapes, node lookups."""
from multirnn import backend as K
from multirnn.layers.symbolic import SymbolicTensor


def to_list(x) -> list:
    """`x` as a list (None -> [])."""
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def unpack(xs: list):
    """A single item for a one-element list, else the list."""
    return xs[0] if len(xs) == 1 else list(xs)


def node_main_inputs(node) -> list:
    """The tensors a node's layer was called on (without the `initial_state` tensors appended)."""
    extras = sum(1 for t in to_list(node.kwargs.get("initial_state")) if isinstance(t, SymbolicTensor))
    return list(node.inputs[:len(node.inputs) - extras]) if extras else list(node.inputs)


def node_takes_list(node) -> bool:
    """Whether the layer was called on a list of tensors (recorded, or more than one input)."""
    recorded = getattr(node, "input_is_list", None)
    if recorded is not None:
        return bool(recorded)
    return len(node_main_inputs(node)) > 1 or bool(getattr(node.layer, "takes_list", False))


def substitute(value, computed: dict):
    """Replace every symbolic tensor inside (nested lists, tuples, dicts) by its computed value."""
    return K.map_structure(lambda v: computed[id(v)] if isinstance(v, SymbolicTensor) else v, value)


def sort_nodes(inputs: list, outputs: list, owner: str) -> list:
    """The nodes between `inputs` and `outputs` in an order where every node follows its inputs."""
    input_ids = {id(t) for t in inputs}
    for t in inputs:
        if not isinstance(t, SymbolicTensor) or not t.node.is_input:
            raise ValueError(f"{owner}: every model input must be a tensor made by `Input(...)`, got {t!r}")
    order, done, active = [], set(), set()
    for out in outputs:
        if not isinstance(out, SymbolicTensor):
            raise TypeError(f"{owner}: outputs must be symbolic tensors returned by layers, got {type(out).__name__}")
        stack = [(out.node, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                active.discard(id(node))
                done.add(id(node))
                order.append(node)
                continue
            if id(node) in active:
                raise ValueError(f"{owner}: the graph has a cycle at layer {node.layer.name!r}")
            active.add(id(node))
            stack.append((node, True))
            if node.is_input:
                tensor = node.outputs[0]
                if id(tensor) not in input_ids:
                    raise ValueError(
                        f"{owner}: graph disconnected: cannot obtain the value of input {node.layer.name!r}, "
                        f"which is not among the model inputs ({', '.join(t.node.layer.name for t in inputs)})")
                continue
            for t in reversed(node.inputs):
                if id(t.node) not in done:
                    stack.append((t.node, False))
    for t in inputs:
        if id(t.node) not in done:
            order.insert(0, t.node)
            done.add(id(t.node))
    return order


def layers_of(nodes: list) -> list:
    """Each layer once, in the order its first node appears."""
    seen, layers = set(), []
    for node in nodes:
        if id(node.layer) not in seen:
            seen.add(id(node.layer))
            layers.append(node.layer)
    return layers


def keras_layer_order(inputs: list, outputs: list) -> list:
    """The layers in Keras 2's order (deepest first, ties by discovery from the outputs), so that
    weight files are matched layer by layer exactly as Keras matches them."""
    discovered, finished, post_order = {}, set(), []

    def visit(node):
        if id(node) in finished:
            return
        discovered.setdefault(id(node.layer), (len(discovered), node.layer))
        for t in node.inputs:
            visit(t.node)
        finished.add(id(node))
        post_order.append(node)
    for t in outputs:
        visit(t.node)
    node_depth, layer_depth = {}, {}
    for node in reversed(post_order):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = depth
        for t in node.inputs:
            node_depth[id(t.node)] = max(depth + 1, node_depth.get(id(t.node), 0))
    for t in inputs:
        if id(t.node.layer) not in layer_depth:
            layer_depth[id(t.node.layer)] = 0
            discovered[id(t.node.layer)] = (-1, t.node.layer)
    ranked = sorted(discovered.values(), key=lambda item: (-layer_depth[id(item[1])], item[0]))
    return [layer for _, layer in ranked]


def run_nodes(nodes: list, inputs: list, values: list, masks: list, outputs: list, training=None):
    """Compute `outputs` (values and masks) from `values` fed to `inputs`, node by node."""
    computed = {id(t): v for t, v in zip(inputs, values)}
    computed_masks = {id(t): m for t, m in zip(inputs, masks)}
    for node in nodes:
        layer = node.layer
        if node.is_input:
            continue
        main = node_main_inputs(node)
        as_list = node_takes_list(node)
        x = [computed[id(t)] for t in main]
        m = [computed_masks.get(id(t)) for t in main]
        args = substitute(node.args, computed)
        kwargs = substitute(dict(node.kwargs), computed)
        if training is not None:
            kwargs.setdefault("training", training)
        x = x if as_list else x[0]
        if "mask" not in kwargs and any(v is not None for v in m):
            kwargs["mask"] = m if as_list else m[0]
        if hasattr(layer, "call_with_masks"):
            out, out_masks = layer.call_with_masks(x, kwargs.get("mask"), kwargs.get("training"))
        else:
            out = layer(x, *args, **kwargs)
            out_masks = layer.mask_for(x, kwargs.get("mask"))
        out = to_list(out) if isinstance(out, (list, tuple)) else [out]
        out_masks = to_list(out_masks) if isinstance(out_masks, (list, tuple)) else [out_masks]
        if len(out_masks) != len(out):
            out_masks = [None] * len(out)
        if len(out) != len(node.outputs):
            raise ValueError(f"layer {layer.name!r} returned {len(out)} tensor(s) but was recorded with "
                             f"{len(node.outputs)} output(s)")
        for t, v, mk in zip(node.outputs, out, out_masks):
            computed[id(t)] = v
            computed_masks[id(t)] = mk
    return [computed[id(t)] for t in outputs], [computed_masks.get(id(t)) for t in outputs]


def propagate_shapes(nodes: list, inputs: list, shapes: list, outputs: list) -> list:
    """Output shapes for input `shapes`, from each layer's `compute_output_shape`."""
    known = {id(t): tuple(s) for t, s in zip(inputs, shapes)}
    for node in nodes:
        if node.is_input:
            continue
        main = node_main_inputs(node)
        in_shapes = [known[id(t)] for t in main]
        out = node.layer.compute_output_shape(in_shapes if node_takes_list(node) else in_shapes[0])
        out = out if isinstance(out, list) else [out]
        for t, s in zip(node.outputs, out):
            known[id(t)] = tuple(s) if s is not None else None
    return [known[id(t)] for t in outputs]


# ---- a layer's nodes (Keras `get_output_at` and friends)
def _node_at(layer, index: int, what: str):
    nodes = layer.inbound_nodes
    if not nodes:
        raise RuntimeError(f"layer {layer.name!r} has never been called, so it has no {what}")
    if not -len(nodes) <= index < len(nodes):
        raise ValueError(f"layer {layer.name!r} has {len(nodes)} node(s); asked for the {what} of node {index}")
    return nodes[index]


def get_output_at(layer, node_index: int):
    """The output tensor(s) of the layer's `node_index`-th call."""
    return unpack(_node_at(layer, node_index, "output").outputs)


def get_input_at(layer, node_index: int):
    """The input tensor(s) of the layer's `node_index`-th call."""
    return unpack(node_main_inputs(_node_at(layer, node_index, "input")))


def get_output_shape_at(layer, node_index: int):
    return unpack([t.symbolic_shape for t in _node_at(layer, node_index, "output shape").outputs])


def get_input_shape_at(layer, node_index: int):
    return unpack([t.symbolic_shape for t in node_main_inputs(_node_at(layer, node_index, "input shape"))])


def single_node(layer, what: str) -> int:
    """0 for a layer called once; an AttributeError naming `get_{what}_at` otherwise."""
    if len(layer.inbound_nodes) > 1:
        raise AttributeError(f"layer {layer.name!r} has been called {len(layer.inbound_nodes)} times, so its "
                             f"{what} is ambiguous; use get_{what}_at(node_index)")
    return 0
