"""What `compile` resolves: a loss, a loss weight and metrics per output, and how they are computed."""
from multirnn import backend as K
from multirnn import losses
from multirnn import metrics as metrics_module
from multirnn.models.data import per_output


def metrics_per_output(metrics, names: list, owner: str) -> list:
    """Metric identifiers per output: a list for all, a dict by name, or a list of lists."""
    if metrics is None:
        return [[] for _ in names]
    if isinstance(metrics, dict):
        lists = per_output(metrics, names, "metrics", owner, default=[])
        return [list(m) if isinstance(m, (list, tuple)) else [m] for m in lists]
    if not isinstance(metrics, (list, tuple)):
        metrics = [metrics]
    if len(names) > 1 and len(metrics) == len(names) and all(isinstance(m, (list, tuple)) for m in metrics):
        return [list(m) for m in metrics]
    return [list(metrics) for _ in names]


def identifier_name(identifier) -> str:
    """The display name of a loss or metric: the string given, or the function's name."""
    if isinstance(identifier, str):
        return identifier
    name = getattr(identifier, "name", None)
    if isinstance(name, str):
        return name
    return getattr(identifier, "__name__", type(identifier).__name__)


def weighted_mean(values, weights=None, mask=None):
    """Mean of per-sample (or per-timestep) values with optional weights and a mask (as tf.keras)."""
    ndim = K.ndim(values)
    if weights is not None:
        for _ in range(ndim - K.ndim(weights)):
            weights = K.expand_dims(weights, -1)
    mask_ndim = K.ndim(mask) if mask is not None else 0
    if mask is not None and tuple(K.int_shape(mask)) == tuple(K.int_shape(values))[:mask_ndim]:
        m = K.cast(mask, K.dtype(values))
        for _ in range(ndim - mask_ndim):
            m = K.expand_dims(m, -1)
        w = m if weights is None else weights * m
        size = 1
        for d in K.int_shape(values)[mask_ndim:]:
            size *= int(d)
        return K.sum(values * w) / K.maximum(K.sum(m) * float(size), 1.0)
    if weights is None:
        return K.mean(values)
    count = 1
    for d in K.int_shape(values):
        count *= int(d)
    return K.sum(values * weights) / float(count)


class Compiled:
    """The resolved compile arguments of a model with `names` outputs of `shapes`."""

    def __init__(self, owner, names, shapes, loss, loss_weights, metrics, sample_weight_mode, custom=None,
                 weighted_metrics=None, logits_of=None):
        self.names = list(names)
        self.logits_of = logits_of  # output -> the logits its sigmoid/softmax layer kept, or None
        self._kept = []
        self.shapes_known = all(s is not None for s in shapes)
        specs = per_output(loss, self.names, "loss", owner)
        if all(s is None for s in specs):
            raise ValueError(f"{owner}: compile needs a loss (a name such as 'mse' or a function)")
        self.loss_specs = specs
        self.loss_fns = [None if s is None else _resolve(losses.get, s, custom, f"{owner}: loss") for s in specs]
        weights = per_output(loss_weights, self.names, "loss_weights", owner, default=1.0)
        self.loss_weights = [1.0 if w is None else float(w) for w in weights]
        modes = per_output(sample_weight_mode, self.names, "sample_weight_mode", owner)
        for m in modes:
            if m not in (None, "temporal"):
                raise ValueError(f"{owner}: sample_weight_mode must be None or 'temporal', got {m!r}")
        self.sample_weight_modes = modes
        self.metric_specs = metrics_per_output(metrics, self.names, owner)
        self.weighted_specs = metrics_per_output(weighted_metrics, self.names, owner)
        self.metric_fns = []
        for ids, weighted_ids, shape, fn in zip(self.metric_specs, self.weighted_specs, shapes, self.loss_fns):
            def get(x, fn=fn, shape=shape):
                return metrics_module.get(x, loss=fn, output_shape=shape)
            resolved = [(identifier_name(i), _resolve(get, i, custom, f"{owner}: metric"), False) for i in ids]
            plain = {name for name, _, _ in resolved}
            for ident in weighted_ids:  # named as tf.keras: "weighted_" only where the plain name is taken
                name = identifier_name(ident)
                resolved.append(("weighted_" + name if name in plain else name,
                                 _resolve(get, ident, custom, f"{owner}: weighted metric"), True))
            self.metric_fns.append(resolved)
        multi = len(self.names) > 1
        self.loss_names = ["loss"] + ([f"{n}_loss" for n, f in zip(self.names, self.loss_fns) if f is not None]
                                      if multi else [])
        self._prefix = [f"{n}_" if multi else "" for n in self.names]

    @property
    def metric_names(self) -> list:
        """Display names of the metrics; dict-valued metrics are named when first computed."""
        names, seen = [], getattr(self, "_dict_keys", {})
        for prefix, fns in zip(self._prefix, self.metric_fns):
            for name, _, _ in fns:
                names += [prefix + key for key in seen.get(prefix + name, [name])]
        return names

    def take_logits(self, outputs) -> list:
        """The logits kept for each output (None where there are none), remembered for the metrics of this step."""
        found = [self.logits_of(out) if self.logits_of is not None else None for out in outputs]
        self._kept = [None if logits is None else K.stop_gradient(logits) for logits in found]
        return found

    def loss(self, ys, outputs, weights, masks):
        """The weighted total over outputs, and each output's own loss (crossentropies from kept logits)."""
        total, parts = 0.0, []
        found = self.take_logits(outputs)
        for fn, w, y, out, sw, mask, logits in zip(self.loss_fns, self.loss_weights, ys, outputs, weights, masks,
                                                   found):
            if fn is None:
                continue
            value = weighted_mean(_apply(fn, y, out, logits), sw, mask)
            parts.append(value)
            total = total + w * value
        return total, parts

    def metrics(self, ys, outputs, masks, weights=None) -> list:
        """(name, per-sample values, output mask, sample weights or None) for every metric of every output;
        only weighted metrics carry the sample weights. Called after `loss` on the same outputs (its logits)."""
        out = []
        weights = weights or [None] * len(ys)
        kept = self._kept if len(self._kept) == len(outputs) else [None] * len(outputs)  # the loss's, output by output
        for prefix, fns, y, pred, mask, sw, logits in zip(self._prefix, self.metric_fns, ys, outputs, masks, weights,
                                                         kept):
            for name, fn, weighted in fns:
                value, w = _apply(fn, y, pred, logits), sw if weighted else None
                if isinstance(value, dict):
                    out += [(prefix + key, v, mask, w) for key, v in value.items()]
                    self._dict_keys = dict(getattr(self, "_dict_keys", {}), **{prefix + name: list(value)})
                else:
                    out.append((prefix + name, value, mask, w))
        self._kept = []
        return out

    def config(self) -> dict:
        """A JSON-able record of the compile arguments (functions by name)."""
        def name(spec, fn=None):
            if spec is None or isinstance(spec, str):
                return spec
            if fn is not None and hasattr(losses, "name_of"):
                return losses.name_of(fn)
            return identifier_name(spec)
        return {"loss": dict(zip(self.names, [name(s, f) for s, f in zip(self.loss_specs, self.loss_fns)])),
                "loss_weights": dict(zip(self.names, self.loss_weights)),
                "metrics": dict(zip(self.names, [[name(m) for m in ids] for ids in self.metric_specs])),
                "weighted_metrics": dict(zip(self.names, [[name(m) for m in ids] for ids in self.weighted_specs])),
                "sample_weight_mode": dict(zip(self.names, self.sample_weight_modes))}


def _apply(fn, y, out, logits):
    """`fn(y, out)`; a builtin crossentropy from `logits` when the output layer kept them (as tf_keras)."""
    if logits is not None and fn in losses.TAKE_LOGITS:
        return fn(y, logits, from_logits=True)
    return fn(y, out)


def _resolve(get, identifier, custom, where):
    """Look a string up in `custom` objects first, then with `get`."""
    if isinstance(identifier, str) and custom and identifier in custom:
        return get(custom[identifier])
    try:
        return get(identifier)
    except (ValueError, KeyError, TypeError) as e:
        message = str(e) if str(e) else repr(identifier)
        raise ValueError(f"{where} {identifier!r}: {message}") from None
