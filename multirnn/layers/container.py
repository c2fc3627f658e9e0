"""What a layer made of other layers shares: weights, constraints, losses and states are theirs."""


def is_model(layer) -> bool:
    """A container with symbolic inputs and outputs (a functional model or a Sequential)."""
    return isinstance(layer, Container) and hasattr(layer, "outputs") and hasattr(layer, "inputs")


def unique_by_id(items) -> list:
    """Items in order, each object once (variables compare elementwise, so never use `in`)."""
    seen, out = set(), []
    for item in items:
        if id(item) not in seen:
            seen.add(id(item))
            out.append(item)
    return out


class Container:
    """Mixin for layers whose weights live in `_sublayers()` (a model, a Keras 1 Merge, the wrappers)."""

    def _sublayers(self) -> list:
        raise NotImplementedError

    @property
    def weights(self) -> list:
        return unique_by_id(w for layer in self._sublayers() for w in layer.weights)

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        return unique_by_id(w for layer in self._sublayers() for w in layer.trainable_weights)

    @property
    def non_trainable_weights(self) -> list:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def constraints(self) -> list:
        seen, out = set(), []
        for var, constraint in (pair for layer in self._sublayers() for pair in layer.constraints):
            if id(var) not in seen:
                seen.add(id(var))
                out.append((var, constraint))
        return out

    @property
    def losses(self) -> list:
        own = list(getattr(self, "_activity_losses", []))
        return [loss for layer in self._sublayers() for loss in layer.losses] + own

    @property
    def stateful(self) -> bool:
        return any(getattr(layer, "stateful", False) for layer in self._sublayers())

    @stateful.setter
    def stateful(self, value):
        pass

    def weight_name(self, var) -> str:
        for layer in self._sublayers():
            if any(var is w for w in layer.weights):
                return f"{layer.name}/{layer.weight_name(var)}"
        return "weight"

    def reset_states(self, states=None) -> None:
        """Reset the states of every stateful layer inside (set given states on each layer instead)."""
        if states is not None:
            raise TypeError(f"{type(self).__name__} {self.name!r}: reset_states() takes no states for a model; "
                            "call reset_states(states) on each stateful layer")
        for layer in self._sublayers():
            if getattr(layer, "stateful", False):
                layer.reset_states()
