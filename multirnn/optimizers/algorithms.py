"""SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam: the Keras 2 (tf_keras legacy) update rules.

An indexed gradient (rows of an Embedding) takes `update_rows`, tf_keras's sparse update: repeated rows
summed first, then, as its `_resource_apply_sparse`, only the present rows of the slots and the variable
change, except where tf_keras decays a slot everywhere (RMSprop, Adam and Nadam's moments, Adam's variable).
"""
import math

import numpy as np

from multirnn import backend as K
from multirnn.optimizers.base import UNSET, Optimizer


class SGD(Optimizer):
    """m = momentum·m − lr·g; var += m (nesterov: var += momentum·m − lr·g); no momentum: var −= lr·g."""

    def __init__(self, learning_rate=UNSET, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def update_variable(self, var, grad, slots, c):
        if K.is_indexed(grad):
            return self.update_rows(var, grad, slots, c)
        step = c["lr"] * grad
        if not self.momentum:
            K.update(var, var - step)
            return
        m = slots["momentum"]
        m_new = self.momentum * m - step
        K.update(m, m_new)
        K.update(var, var + (self.momentum * m_new - step if self.nesterov else m_new))

    def update_rows(self, var, grad, slots, c):
        """No momentum: the rows as they came, added (tf's scatter-add); momentum: only present rows change."""
        if not self.momentum:
            indices, values = K.indexed_raw(grad)
            K.scatter_add(var, indices, -c["lr"] * values)
            return
        indices, g = K.indexed_parts(grad)
        m, step = slots["momentum"], c["lr"] * g
        m_new = self.momentum * K.gather(m, indices) - step
        K.scatter_update(m, indices, m_new)
        K.scatter_update(var, indices, K.gather(var, indices) + (self.momentum * m_new - step if self.nesterov
                                                                  else m_new))

    def get_config(self):
        return dict(super().get_config(), momentum=self.momentum, nesterov=self.nesterov)


class RMSprop(Optimizer):
    """rms = rho·rms + (1−rho)·g²; var −= lr·g / (sqrt(rms) + epsilon) (epsilon outside the root)."""
    slot_names = ("rms",)
    default_lrs = (0.001, 0.001)

    def __init__(self, learning_rate=UNSET, rho=0.9, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = float(rho)

    def update_variable(self, var, grad, slots, c):
        if K.is_indexed(grad):
            return self.update_rows(var, grad, slots, c)
        rms = slots["rms"]
        K.update(rms, self.rho * rms + (1.0 - self.rho) * K.square(grad))
        K.update(var, var - c["lr"] * grad / (K.sqrt(rms) + self.epsilon))

    def update_rows(self, var, grad, slots, c):
        """rms decays everywhere, then gains the present rows' g²; only present rows of var change."""
        indices, g = K.indexed_parts(grad)
        rms = slots["rms"]
        K.update(rms, self.rho * rms)
        K.scatter_add(rms, indices, (1.0 - self.rho) * K.square(g))
        K.scatter_add(var, indices, -c["lr"] * g / (K.sqrt(K.gather(rms, indices)) + self.epsilon))

    def get_config(self):
        return dict(super().get_config(), rho=self.rho)


class Adagrad(Optimizer):
    """acc += g²; var −= lr·g / (sqrt(acc) + epsilon). The accumulator starts at
    `initial_accumulator_value` (0.1, as tf_keras; Keras 2.2 started at 0)."""
    slot_names = ("accumulator",)
    default_lrs = (0.001, 0.01)

    def __init__(self, learning_rate=UNSET, initial_accumulator_value=0.1, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)

    def slot_initial(self, name):
        return self.initial_accumulator_value

    def update_variable(self, var, grad, slots, c):
        if K.is_indexed(grad):
            return self.update_rows(var, grad, slots, c)
        acc = slots["accumulator"]
        K.update(acc, acc + K.square(grad))
        K.update(var, var - c["lr"] * grad / (K.sqrt(acc) + self.epsilon))

    def update_rows(self, var, grad, slots, c):
        """Only the present rows of the accumulator and var change."""
        indices, g = K.indexed_parts(grad)
        acc = slots["accumulator"]
        acc_rows = K.gather(acc, indices) + K.square(g)
        K.scatter_update(acc, indices, acc_rows)
        K.scatter_update(var, indices, K.gather(var, indices) - c["lr"] * g / (K.sqrt(acc_rows) + self.epsilon))

    def get_config(self):
        return dict(super().get_config(), initial_accumulator_value=self.initial_accumulator_value)


class Adadelta(Optimizer):
    """a = rho·a + (1−rho)·g²; u = sqrt(d + eps) / sqrt(a + eps)·g; d = rho·d + (1−rho)·u²; var −= lr·u.

    The default lr is tf_keras's 0.001 (steps 1000x smaller than Keras 2.2's lr=1.0, the paper's lr-free
    rule): it warns once when none is given; `set_default_learning_rates('keras2')` gives 1.0."""
    slot_names = ("accum_grad", "accum_var")
    default_lrs = (0.001, 1.0)  # Keras 2.2: 1.0, the lr-free Adadelta of the paper

    def __init__(self, learning_rate=UNSET, rho=0.95, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = float(rho)

    def update_variable(self, var, grad, slots, c):
        if K.is_indexed(grad):
            return self.update_rows(var, grad, slots, c)
        a, d, eps = slots["accum_grad"], slots["accum_var"], self.epsilon
        K.update(a, self.rho * a + (1.0 - self.rho) * K.square(grad))
        step = K.sqrt(d + eps) / K.sqrt(a + eps) * grad
        K.update(d, self.rho * d + (1.0 - self.rho) * K.square(step))
        K.update(var, var - c["lr"] * step)

    def update_rows(self, var, grad, slots, c):
        """The dense rule on the present rows only; the other rows of both accumulators are untouched."""
        indices, g = K.indexed_parts(grad)
        a, d, eps = slots["accum_grad"], slots["accum_var"], self.epsilon
        a_rows = self.rho * K.gather(a, indices) + (1.0 - self.rho) * K.square(g)
        d_rows = K.gather(d, indices)
        step = K.sqrt(d_rows + eps) / K.sqrt(a_rows + eps) * g
        K.scatter_update(a, indices, a_rows)
        K.scatter_update(d, indices, self.rho * d_rows + (1.0 - self.rho) * K.square(step))
        K.scatter_update(var, indices, K.gather(var, indices) - c["lr"] * step)

    def get_config(self):
        return dict(super().get_config(), rho=self.rho)


class Adam(Optimizer):
    """m, v moving averages; var −= lr·sqrt(1−β2^t)/(1−β1^t)·m / (sqrt(v) + epsilon), epsilon not
    bias-corrected (tf_keras); `amsgrad` divides by sqrt(max of all v) instead."""
    default_lrs = (0.001, 0.001)

    def __init__(self, learning_rate=UNSET, beta_1=0.9, beta_2=0.999, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.amsgrad = float(beta_1), float(beta_2), bool(amsgrad)
        self.slot_names = ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def coefficients(self, lr, t):
        return {"lr_t": lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)}

    def update_variable(self, var, grad, slots, c):
        if K.is_indexed(grad):
            return self.update_rows(var, grad, slots, c)
        _update_moments(slots, self.beta_1, self.beta_2, grad)
        self._apply(var, slots, c)

    def update_rows(self, var, grad, slots, c):
        """m and v decay everywhere and gain the present rows; then var moves everywhere, as the dense rule."""
        indices, g = K.indexed_parts(grad)
        _update_moments(slots, self.beta_1, self.beta_2, g, indices)
        self._apply(var, slots, c)

    def _apply(self, var, slots, c):
        m, v = slots["m"], slots["v"]
        if self.amsgrad:
            K.update(slots["vhat"], K.maximum(slots["vhat"], v))
            v = slots["vhat"]
        K.update(var, var - c["lr_t"] * m / (K.sqrt(v) + self.epsilon))

    def get_config(self):
        return dict(super().get_config(), beta_1=self.beta_1, beta_2=self.beta_2, amsgrad=self.amsgrad)


class Adamax(Optimizer):
    """m = β1·m + (1−β1)·g; u = max(β2·u, |g|); var −= lr/(1−β1^t)·m / (u + epsilon)."""
    slot_names = ("m", "u")
    default_lrs = (0.001, 0.002)

    def __init__(self, learning_rate=UNSET, beta_1=0.9, beta_2=0.999, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def coefficients(self, lr, t):
        return {"lr_t": lr / (1.0 - self.beta_1 ** t)}

    def update_variable(self, var, grad, slots, c):
        if K.is_indexed(grad):
            return self.update_rows(var, grad, slots, c)
        m, u = slots["m"], slots["u"]
        K.update(m, self.beta_1 * m + (1.0 - self.beta_1) * grad)
        K.update(u, K.maximum(self.beta_2 * u, K.abs(grad)))
        K.update(var, var - c["lr_t"] * m / (u + self.epsilon))

    def update_rows(self, var, grad, slots, c):
        """Only the present rows of m, u and var change."""
        indices, g = K.indexed_parts(grad)
        m, u = slots["m"], slots["u"]
        m_rows = self.beta_1 * K.gather(m, indices) + (1.0 - self.beta_1) * g
        u_rows = K.maximum(self.beta_2 * K.gather(u, indices), K.abs(g))
        K.scatter_update(m, indices, m_rows)
        K.scatter_update(u, indices, u_rows)
        K.scatter_add(var, indices, -c["lr_t"] * (m_rows / (u_rows + self.epsilon)))

    def get_config(self):
        return dict(super().get_config(), beta_1=self.beta_1, beta_2=self.beta_2)


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat), the Keras 2 / tf_keras legacy form: μ_t =
    β1·(1 − 0.5·0.96^(t·schedule_decay)), the product of the μ's kept as optimizer state,
    var −= lr·((1−μ_t)·g/(1−Πμ_t) + μ_{t+1}·m/(1−Πμ_{t+1})) / (sqrt(v/(1−β2^t)) + epsilon).
    `decay` is the time decay of lr as elsewhere (tf_keras reuses that name for schedule_decay)."""
    slot_names = ("m", "v")
    default_lrs = (0.001, 0.002)

    def __init__(self, learning_rate=UNSET, beta_1=0.9, beta_2=0.999, schedule_decay=0.004, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.schedule_decay = float(beta_1), float(beta_2), float(schedule_decay)
        self.m_schedule = 1.0

    def _mu(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (t * self.schedule_decay))

    def coefficients(self, lr, t):
        mu_t, mu_next = self._mu(t), self._mu(t + 1)
        schedule = self.m_schedule * mu_t
        return {"lr": lr, "mu_t": mu_t, "mu_next": mu_next, "schedule": schedule,
                "schedule_next": schedule * mu_next, "v_correction": 1.0 - self.beta_2 ** t}

    def update_variable(self, var, grad, slots, c):
        if K.is_indexed(grad):
            return self.update_rows(var, grad, slots, c)
        m, v = _update_moments(slots, self.beta_1, self.beta_2, grad)
        K.update(var, var - self._step(grad, m, v, c))

    def update_rows(self, var, grad, slots, c):
        """m and v decay everywhere and gain the present rows; only the present rows of var move."""
        indices, g = K.indexed_parts(grad)
        m, v = _update_moments(slots, self.beta_1, self.beta_2, g, indices)
        K.scatter_add(var, indices, -self._step(g, K.gather(m, indices), K.gather(v, indices), c))

    def _step(self, g, m, v, c):
        m_bar = ((1.0 - c["mu_t"]) / (1.0 - c["schedule"])) * g + (c["mu_next"] / (1.0 - c["schedule_next"])) * m
        return c["lr"] * m_bar / (K.sqrt(v / c["v_correction"]) + self.epsilon)

    def finish_step(self, c):
        self.m_schedule = c["schedule"]

    def extra_state(self):
        return [np.array(self.m_schedule, dtype=np.float64)]

    def set_extra_state(self, values):
        self.m_schedule = float(values[0])

    def get_config(self):
        return dict(super().get_config(), beta_1=self.beta_1, beta_2=self.beta_2,
                    schedule_decay=self.schedule_decay)


def _update_moments(slots, beta_1, beta_2, grad, indices=None):
    """Adam's and Nadam's moments: m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g²; with `indices` (the summed
    rows of an indexed gradient) m and v decay everywhere and gain the rows there, as tf_keras. Returns (m, v)."""
    m, v = slots["m"], slots["v"]
    if indices is None:
        K.update(m, beta_1 * m + (1.0 - beta_1) * grad)
        K.update(v, beta_2 * v + (1.0 - beta_2) * K.square(grad))
    else:
        K.update(m, beta_1 * m)
        K.scatter_add(m, indices, (1.0 - beta_1) * grad)
        K.update(v, beta_2 * v)
        K.scatter_add(v, indices, (1.0 - beta_2) * K.square(grad))
    return m, v
