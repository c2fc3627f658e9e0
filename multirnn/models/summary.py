"""`model.summary()`: one row per layer with its output shape and parameter count."""
import numpy as np

from multirnn import backend as K
from multirnn.layers import topology


def _count(weights) -> int:
    return int(sum(int(np.prod(K.int_shape(w))) for w in weights))


def _shape_text(layer, nodes) -> str:
    own = [n for n in nodes if n.layer is layer]
    if len(own) != 1:
        return "multiple"
    shapes = [t.symbolic_shape for t in own[0].outputs]
    return str(shapes[0] if len(shapes) == 1 else shapes)


def _connections(layer, nodes) -> list:
    out = []
    for node in nodes:
        if node.layer is layer:
            for t in topology.node_main_inputs(node):
                producer = t.node.layer
                index = next(i for i, n in enumerate(producer.inbound_nodes) if n is t.node)
                out.append(f"{producer.name}[{index}][{t.node.outputs.index(t)}]")
    return out


def print_summary(model, line_length=None, positions=None, print_fn=None) -> None:
    """Print (or pass each line to `print_fn`) the layer table and the parameter totals."""
    model._require_built("summary")
    print_fn = print_fn or print
    sequential = model.linear_stack
    line_length = line_length or (65 if sequential else 98)
    positions = positions or ([0.45, 0.85, 1.0] if sequential else [0.33, 0.55, 0.67, 1.0])
    positions = [int(line_length * p) if p <= 1 else int(p) for p in positions]
    headers = ["Layer (type)", "Output Shape", "Param #"] + ([] if sequential else ["Connected to"])

    def row(fields):
        line = ""
        for field, stop in zip(fields, positions):
            line = (line + str(field))[:stop - 1]
            line += " " * (stop - len(line))
        print_fn(line.rstrip())

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    row(headers)
    print_fn("=" * line_length)
    layers = model.layers
    for i, layer in enumerate(layers):
        fields = [f"{layer.name} ({type(layer).__name__})", _shape_text(layer, model._nodes),
                  _count(layer.weights)]
        connected = [] if sequential else _connections(layer, model._nodes)
        row(fields + ([connected[0] if connected else ""] if not sequential else []))
        for extra in connected[1:]:
            row(["", "", "", extra])
        print_fn(("=" if i == len(layers) - 1 else "_") * line_length)
    trainable = _count(model.trainable_weights)
    total = _count(model.weights)
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")
    print_fn("_" * line_length)
