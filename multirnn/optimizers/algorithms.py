"""SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam: the Keras 2 (tf_keras legacy) update rules."""
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
        step = c["lr"] * grad
        if not self.momentum:
            K.update(var, var - step)
            return
        m = slots["momentum"]
        m_new = self.momentum * m - step
        K.update(m, m_new)
        K.update(var, var + (self.momentum * m_new - step if self.nesterov else m_new))

    def get_config(self):
        return dict(super().get_config(), momentum=self.momentum, nesterov=self.nesterov)


class RMSprop(Optimizer):
    """rms = rho·rms + (1−rho)·g²; var −= lr·g / (sqrt(rms) + epsilon) (epsilon outside the root)."""
    slot_names = ("rms",)
    default_lr = 0.001

    def __init__(self, learning_rate=UNSET, rho=0.9, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = float(rho)

    def update_variable(self, var, grad, slots, c):
        rms = slots["rms"]
        K.update(rms, self.rho * rms + (1.0 - self.rho) * K.square(grad))
        K.update(var, var - c["lr"] * grad / (K.sqrt(rms) + self.epsilon))

    def get_config(self):
        return dict(super().get_config(), rho=self.rho)


class Adagrad(Optimizer):
    """acc += g²; var −= lr·g / (sqrt(acc) + epsilon). The accumulator starts at
    `initial_accumulator_value` (0.1, as tf_keras; Keras 2.2 started at 0)."""
    slot_names = ("accumulator",)

    def __init__(self, learning_rate=UNSET, initial_accumulator_value=0.1, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)

    def slot_initial(self, name):
        return self.initial_accumulator_value

    def update_variable(self, var, grad, slots, c):
        acc = slots["accumulator"]
        K.update(acc, acc + K.square(grad))
        K.update(var, var - c["lr"] * grad / (K.sqrt(acc) + self.epsilon))

    def get_config(self):
        return dict(super().get_config(), initial_accumulator_value=self.initial_accumulator_value)


class Adadelta(Optimizer):
    """a = rho·a + (1−rho)·g²; u = sqrt(d + eps) / sqrt(a + eps)·g; d = rho·d + (1−rho)·u²; var −= lr·u."""
    slot_names = ("accum_grad", "accum_var")
    default_lr = 1.0

    def __init__(self, learning_rate=UNSET, rho=0.95, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = float(rho)

    def update_variable(self, var, grad, slots, c):
        a, d, eps = slots["accum_grad"], slots["accum_var"], self.epsilon
        K.update(a, self.rho * a + (1.0 - self.rho) * K.square(grad))
        step = K.sqrt(d + eps) / K.sqrt(a + eps) * grad
        K.update(d, self.rho * d + (1.0 - self.rho) * K.square(step))
        K.update(var, var - c["lr"] * step)

    def get_config(self):
        return dict(super().get_config(), rho=self.rho)


class Adam(Optimizer):
    """m, v moving averages; var −= lr·sqrt(1−β2^t)/(1−β1^t)·m / (sqrt(v) + epsilon), epsilon not
    bias-corrected (tf_keras); `amsgrad` divides by sqrt(max of all v) instead."""
    default_lr = 0.001

    def __init__(self, learning_rate=UNSET, beta_1=0.9, beta_2=0.999, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.amsgrad = float(beta_1), float(beta_2), bool(amsgrad)
        self.slot_names = ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def coefficients(self, lr, t):
        return {"lr_t": lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)}

    def update_variable(self, var, grad, slots, c):
        m, v = slots["m"], slots["v"]
        K.update(m, self.beta_1 * m + (1.0 - self.beta_1) * grad)
        K.update(v, self.beta_2 * v + (1.0 - self.beta_2) * K.square(grad))
        if self.amsgrad:
            K.update(slots["vhat"], K.maximum(slots["vhat"], v))
            v = slots["vhat"]
        K.update(var, var - c["lr_t"] * m / (K.sqrt(v) + self.epsilon))

    def get_config(self):
        return dict(super().get_config(), beta_1=self.beta_1, beta_2=self.beta_2, amsgrad=self.amsgrad)


class Adamax(Optimizer):
    """m = β1·m + (1−β1)·g; u = max(β2·u, |g|); var −= lr/(1−β1^t)·m / (u + epsilon)."""
    slot_names = ("m", "u")
    default_lr = 0.002

    def __init__(self, learning_rate=UNSET, beta_1=0.9, beta_2=0.999, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def coefficients(self, lr, t):
        return {"lr_t": lr / (1.0 - self.beta_1 ** t)}

    def update_variable(self, var, grad, slots, c):
        m, u = slots["m"], slots["u"]
        K.update(m, self.beta_1 * m + (1.0 - self.beta_1) * grad)
        K.update(u, K.maximum(self.beta_2 * u, K.abs(grad)))
        K.update(var, var - c["lr_t"] * m / (u + self.epsilon))

    def get_config(self):
        return dict(super().get_config(), beta_1=self.beta_1, beta_2=self.beta_2)


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat), the Keras 2 / tf_keras legacy form: μ_t =
    β1·(1 − 0.5·0.96^(t·schedule_decay)), the product of the μ's kept as optimizer state,
    var −= lr·((1−μ_t)·g/(1−Πμ_t) + μ_{t+1}·m/(1−Πμ_{t+1})) / (sqrt(v/(1−β2^t)) + epsilon).
    `decay` is the time decay of lr as elsewhere (tf_keras reuses that name for schedule_decay)."""
    slot_names = ("m", "v")
    default_lr = 0.002

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
        m, v = slots["m"], slots["v"]
        K.update(m, self.beta_1 * m + (1.0 - self.beta_1) * grad)
        K.update(v, self.beta_2 * v + (1.0 - self.beta_2) * K.square(grad))
        m_bar = ((1.0 - c["mu_t"]) / (1.0 - c["schedule"])) * grad + (c["mu_next"] / (1.0 - c["schedule_next"])) * m
        K.update(var, var - c["lr"] * m_bar / (K.sqrt(v / c["v_correction"]) + self.epsilon))

    def finish_step(self, c):
        self.m_schedule = c["schedule"]

    def extra_state(self):
        return [np.array(self.m_schedule, dtype=np.float64)]

    def set_extra_state(self, values):
        self.m_schedule = float(values[0])

    def get_config(self):
        return dict(super().get_config(), beta_1=self.beta_1, beta_2=self.beta_2,
                    schedule_decay=self.schedule_decay)
