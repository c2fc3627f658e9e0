"""The tf_keras legacy optimizer (`tf_keras.optimizers.legacy.*`) with the settings of a multirnn optimizer.

tf_keras keeps hyper-parameters such as the learning rate, momentum, rho and the betas as float32
variables. `exact=True` gives them as float64 constants instead (cast to each variable's dtype when
applied), so that float64 trajectories are not rounded through float32; the update rules are tf_keras's own.
"""
from multirnn.backends import frameworks

_OWN = {  # the multirnn attributes each tf_keras constructor takes, beyond learning_rate and epsilon
    "SGD": ("momentum", "nesterov"), "RMSprop": ("rho",), "Adagrad": ("initial_accumulator_value",),
    "Adadelta": ("rho",), "Adam": ("beta_1", "beta_2", "amsgrad"), "Adamax": ("beta_1", "beta_2"),
    "Nadam": ("beta_1", "beta_2", "schedule_decay"),
}


def legacy_optimizer(optimizer, exact: bool = False):
    """A `tf_keras.optimizers.legacy` optimizer equivalent to the multirnn `optimizer` (object or name)."""
    tf, tf_keras = frameworks.require("tensorflow"), frameworks.require("tf_keras")
    from multirnn import optimizers
    optimizer = optimizers.get(optimizer)
    name = type(optimizer).__name__
    if name not in _OWN:
        raise ValueError(f"legacy_optimizer: no tf_keras counterpart for {name}")
    if any(getattr(optimizer, k, None) is not None for k in ("clipnorm", "clipvalue", "global_clipnorm")):
        raise ValueError(f"legacy_optimizer: {name} with gradient clipping is not mapped")
    kwargs = {k: getattr(optimizer, k) for k in _OWN[name]}
    kwargs.update(learning_rate=optimizer.learning_rate, epsilon=optimizer.epsilon)
    if name == "SGD":
        kwargs.pop("epsilon")
    if optimizer.decay:
        if name == "Nadam":
            raise ValueError("legacy_optimizer: tf_keras's Nadam has no time decay of the learning rate")
        kwargs["decay"] = optimizer.decay
    result = getattr(tf_keras.optimizers.legacy, name)(**kwargs)
    if exact:
        for hyper, value in list(result._hyper.items()):
            if isinstance(value, float) and hyper != "decay":
                result._set_hyper(hyper, tf.constant(value, tf.float64))
    return result
