"""Adaptive mixture of local experts (Jacobs, Jordan, Nowlan & Hinton 1991) and its baseline.

Jacobs et al. (1991), "Adaptive mixtures of local experts", Neural Computation 3:79-87.

Mixture: ``K`` linear experts ``o_i = W_i x + b_i`` and a linear softmax gate
``p_i = exp(u_i / T) / sum_j exp(u_j / T)``, ``u = V x + c``, with temperature ``T`` (1 in the
paper; other values are our extension). Two objectives (per case; the training loss is the mean
over cases):

* competitive (the paper's eq. 1.3): ``E = -log sum_i p_i exp(-||d - o_i||^2 / (2 sigma^2))``, the
  negative log-likelihood of a Gaussian mixture with the normalising constant dropped. Its
  posterior responsibilities are ``h_i = p_i exp(-||d - o_i||^2 / 2 sigma^2) / sum_j (same)``, and
  ``-dE/do_i = h_i (d - o_i) / sigma^2``, ``-dE/du_i = (h_i - p_i) / T`` (the paper's eq. 1.4
  and the gate's softmax rule);
* cooperative (the paper's eq. 1.1): ``E = 1/2 ||d - sum_i p_i o_i||^2``, which makes the experts
  co-adapt rather than specialise.

Baseline: a backprop network with one logistic hidden layer and squared error (Rumelhart et al.
1986), as in the paper's Table 1 (6 or 12 hidden units).

Everything is numpy float64 and vectorised over a leading *population* axis ``S``: ``S``
independently initialised networks (one per seed and learning rate) train side by side on the
same full batch, so the paper's 25-seed protocol runs in seconds. Parameters are dicts of arrays
whose first axis is ``S``; the math is pure functions of ``(params, x, d)``.

Choices the paper leaves open (stated here, not taken from it): targets are one-hot vectors, the
class read out is ``argmax_c sum_i p_i o_ic`` (the mixture's mean output) for both objectives,
training is full-batch gradient descent without momentum (one update per epoch), and weights
start uniform in ``[-init_scale, init_scale]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats
from scipy.special import expit, log_softmax, logsumexp, softmax

Params = dict[str, np.ndarray]

OBJECTIVES: tuple[str, ...] = ("competitive", "cooperative")
OUTPUT_ACTIVATIONS: tuple[str, ...] = ("logistic", "linear")


@dataclass(frozen=True)
class MixtureConfig:
    """A mixture of ``n_experts`` linear experts with a linear softmax gate.

    ``sigma`` is the Gaussian scale of the competitive objective and ``temperature`` divides the
    gate's logits before the softmax (the paper uses 1 for both).
    """

    n_in: int = 2
    n_out: int = 4
    n_experts: int = 4
    objective: str = "competitive"
    sigma: float = 1.0
    init_scale: float = 0.1
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.n_experts < 1 or self.n_in < 1 or self.n_out < 1:
            raise ValueError(f"sizes must be positive, got {self}")
        if self.sigma <= 0 or self.temperature <= 0:
            raise ValueError(f"sigma and temperature must be positive, got {self.sigma} and "
                             f"{self.temperature}")

    @property
    def label(self) -> str:
        """``4 experts``, plus ``(cooperative)`` and a non-default σ and temperature."""
        extra = [f"sigma {self.sigma:g}"] * (self.sigma != 1) + \
            [f"T {self.temperature:g}"] * (self.temperature != 1)
        suffix = "" if self.objective == "competitive" else " (cooperative)"
        return f"{self.n_experts} experts{suffix}" + (f", {', '.join(extra)}" if extra else "")


@dataclass(frozen=True)
class BackpropConfig:
    """A one-hidden-layer network: logistic hidden units, ``output`` units, squared error."""

    n_in: int = 2
    n_out: int = 4
    n_hidden: int = 6
    output: str = "logistic"
    init_scale: float = 0.5

    def __post_init__(self) -> None:
        if self.output not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output must be one of {OUTPUT_ACTIVATIONS}, got {self.output!r}")
        if self.n_hidden < 1 or self.n_in < 1 or self.n_out < 1:
            raise ValueError(f"sizes must be positive, got {self}")

    @property
    def label(self) -> str:
        return f"backprop {self.n_hidden} hidden"


ModelConfig = MixtureConfig | BackpropConfig

_SYSTEM_RE = re.compile(r"(?:mix(?P<experts>\d+)(?P<coop>coop)?|bp(?P<hidden>\d+))")

#: The Table 1 systems (the paper's four, then the cooperative objective for comparison).
TABLE1_SYSTEMS = ("mix4", "mix8", "mix4coop", "mix8coop", "bp6", "bp12")


def parse_system(key: str, sigma: float = 1.0, temperature: float = 1.0) -> ModelConfig:
    """The network a system key names: ``mix<K>`` (``K`` linear experts, competitive),
    ``mix<K>coop`` (cooperative objective) or ``bp<H>`` (backprop, ``H`` hidden units), e.g.
    ``mix4``, ``mix16coop``, ``bp12``. ``sigma`` and ``temperature`` set the mixtures'
    :class:`MixtureConfig` fields. ValueError (naming the forms) for any other key."""
    m = _SYSTEM_RE.fullmatch(key.strip())
    if m is None:
        raise ValueError(f"unknown system {key!r}; use mix<K> (K experts), mix<K>coop "
                         "(cooperative) or bp<H> (backprop with H hidden units), e.g. mix4")
    if int(m["hidden"] or m["experts"]) < 1:
        raise ValueError(f"system {key!r}: a system needs at least one "
                         f"{'hidden unit' if m['hidden'] is not None else 'expert'}")
    if m["hidden"] is not None:
        return BackpropConfig(n_hidden=int(m["hidden"]))
    return MixtureConfig(n_experts=int(m["experts"]), sigma=sigma, temperature=temperature,
                         objective="cooperative" if m["coop"] else "competitive")


@dataclass(frozen=True)
class TrainConfig:
    """Full-batch gradient descent until the training accuracy reaches ``criterion``.

    The paper's Table 1 reports all systems at 88% training accuracy, so 0.88 is the default
    criterion; a run that has not reached it after ``max_epochs`` is *not converged*.
    """

    max_epochs: int = 3000
    criterion: float = 0.88
    stop_at_criterion: bool = True

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")
        if not 0.0 < self.criterion <= 1.0:
            raise ValueError(f"criterion must be in (0, 1], got {self.criterion}")


def vowel_run_name(config: ModelConfig, seed: int, learning_rate: float, train: TrainConfig,
                   split: str = "paper", split_seed: int = 0, n_train: int = 400) -> str:
    """The run name (:func:`core.training.naming.run_name`) of one network trained on the vowels:
    ``{task}_seed{seed}_{objective}+hidden{size}+batch{n_train}{flags}``, e.g.
    ``vowels_seed0_competitive+hidden4+batch400+sigma1+T1+lr2+stop0.88``.

    ``task`` is ``vowels`` (the paper split) or ``vowels-stratified{split_seed}``; ``objective``
    ``competitive``, ``cooperative`` or ``backprop``; ``size`` the number of experts or of
    hidden units; ``batch`` the training tokens (full batch); ``flags`` σ (competitive
    mixtures), the gate temperature (mixtures), the learning rate and the stopping rule
    (``+stop{criterion}``, or ``+nostop``). ValueError for an unknown split."""
    from core.training.naming import run_name

    if split not in ("paper", "stratified"):
        raise ValueError(f"unknown split {split!r}; expected 'paper' or 'stratified'")
    task = "vowels" if split == "paper" else f"vowels-stratified{split_seed}"
    if isinstance(config, BackpropConfig):
        objective, size, flags = "backprop", config.n_hidden, ""
    else:
        objective, size = config.objective, config.n_experts
        flags = (f"+sigma{config.sigma:g}" if objective == "competitive" else "") + \
            f"+T{config.temperature:g}"
    flags += f"+lr{learning_rate:g}" + (f"+stop{train.criterion:g}" if train.stop_at_criterion
                                        else "+nostop")
    return run_name(task, int(seed), objective, size, int(n_train), flags)


# --------------------------------------------------------------------------------------------
# Parameters


def init_params(config: ModelConfig, seeds: np.ndarray | list[int]) -> Params:
    """Parameters for one network per seed, each drawn from its own ``default_rng(seed)``.

    Mixture: ``W (S, K, n_in, n_out)``, ``b (S, K, n_out)``, ``V (S, n_in, K)``, ``c (S, K)``.
    Backprop: ``W1 (S, n_in, H)``, ``b1 (S, H)``, ``W2 (S, H, n_out)``, ``b2 (S, n_out)``.
    """
    if isinstance(config, MixtureConfig):
        shapes = {"W": (config.n_experts, config.n_in, config.n_out),
                  "b": (config.n_experts, config.n_out),
                  "V": (config.n_in, config.n_experts), "c": (config.n_experts,)}
    else:
        shapes = {"W1": (config.n_in, config.n_hidden), "b1": (config.n_hidden,),
                  "W2": (config.n_hidden, config.n_out), "b2": (config.n_out,)}
    per_seed = []
    for seed in np.asarray(seeds, dtype=np.int64):
        rng = np.random.default_rng(int(seed))
        per_seed.append({k: rng.uniform(-config.init_scale, config.init_scale, size=shape)
                         for k, shape in shapes.items()})
    return {k: np.stack([p[k] for p in per_seed]) for k in shapes}


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``labels (N,)`` -> targets ``(N, n_classes)`` with a 1 at the label."""
    return np.eye(n_classes)[np.asarray(labels)]


# --------------------------------------------------------------------------------------------
# Mixture of experts: pure functions


def expert_outputs(params: Params, x: np.ndarray) -> np.ndarray:
    """Linear expert outputs ``o (S, N, K, C)`` for inputs ``x (N, D)``."""
    W, b = params["W"], params["b"]
    S, K, D, C = W.shape
    flat = x @ W.transpose(0, 2, 1, 3).reshape(S, D, K * C)
    return flat.reshape(S, x.shape[0], K, C) + b[:, None]


def gate_logits(params: Params, x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Gate pre-softmax activations divided by the temperature, ``u / T (S, N, K)``."""
    return (x @ params["V"] + params["c"][:, None]) / temperature


def gate_probabilities(params: Params, x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Gate probabilities ``p (S, N, K)``, summing to 1 over experts."""
    return softmax(gate_logits(params, x, temperature), axis=-1)


def mixture_output(params: Params, x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """The gate-weighted mean output ``y = sum_i p_i o_i``, shape ``(S, N, C)``."""
    return (gate_probabilities(params, x, temperature)[..., None]
            * expert_outputs(params, x)).sum(axis=2)


def responsibilities(params: Params, x: np.ndarray, d: np.ndarray, sigma: float = 1.0,
                     temperature: float = 1.0) -> np.ndarray:
    """Posterior responsibilities ``h (S, N, K)`` of each expert for each case (sum to 1)."""
    log_joint = _log_joint(params, x, d, sigma, temperature)
    return np.exp(log_joint - logsumexp(log_joint, axis=-1, keepdims=True))


def _log_joint(params: Params, x: np.ndarray, d: np.ndarray, sigma: float,
               temperature: float = 1.0) -> np.ndarray:
    """``log p_i - ||d - o_i||^2 / (2 sigma^2)``, shape ``(S, N, K)``."""
    sq_err = ((d[None, :, None, :] - expert_outputs(params, x)) ** 2).sum(-1)
    return log_softmax(gate_logits(params, x, temperature), axis=-1) - 0.5 * sq_err / sigma**2


def competitive_loss(params: Params, x: np.ndarray, d: np.ndarray, sigma: float = 1.0,
                     temperature: float = 1.0) -> np.ndarray:
    """Mean over cases of ``-log sum_i p_i exp(-||d - o_i||^2 / 2 sigma^2)``, shape ``(S,)``."""
    return -logsumexp(_log_joint(params, x, d, sigma, temperature), axis=-1).mean(axis=-1)


def competitive_grads(params: Params, x: np.ndarray, d: np.ndarray, sigma: float = 1.0,
                      temperature: float = 1.0) -> tuple[np.ndarray, Params]:
    """Loss ``(S,)`` and its gradients (same shapes as ``params``), mean over the ``N`` cases.

    ``dE/do_i = -h_i (d - o_i) / sigma^2`` and ``dE/du_i = -(h_i - p_i) / T``, each divided by
    ``N``.
    """
    o = expert_outputs(params, x)
    u = gate_logits(params, x, temperature)
    log_p = log_softmax(u, axis=-1)
    log_joint = log_p - 0.5 * ((d[None, :, None, :] - o) ** 2).sum(-1) / sigma**2
    log_norm = logsumexp(log_joint, axis=-1, keepdims=True)
    h = np.exp(log_joint - log_norm)
    n = x.shape[0]
    d_o = -h[..., None] * (d[None, :, None, :] - o) / (sigma**2 * n)
    d_u = -(h - np.exp(log_p)) / (n * temperature)
    return -log_norm[..., 0].mean(axis=-1), _linear_grads(x, d_o, d_u)


def cooperative_loss(params: Params, x: np.ndarray, d: np.ndarray, temperature: float = 1.0
                     ) -> np.ndarray:
    """Mean over cases of ``1/2 ||d - sum_i p_i o_i||^2``, shape ``(S,)``."""
    return 0.5 * ((d[None] - mixture_output(params, x, temperature)) ** 2).sum(-1).mean(-1)


def cooperative_grads(params: Params, x: np.ndarray, d: np.ndarray, temperature: float = 1.0
                      ) -> tuple[np.ndarray, Params]:
    """Loss ``(S,)`` and gradients of the cooperative objective, mean over the ``N`` cases.

    With ``y = sum_i p_i o_i``: ``dE/do_i = -p_i (d - y)`` and
    ``dE/du_i = -p_i (o_i - y).(d - y) / T``.
    """
    o = expert_outputs(params, x)
    p = gate_probabilities(params, x, temperature)
    y = (p[..., None] * o).sum(axis=2)
    err = d[None] - y
    n = x.shape[0]
    d_o = -p[..., None] * err[:, :, None, :] / n
    d_u = -p * ((o - y[:, :, None, :]) * err[:, :, None, :]).sum(-1) / (n * temperature)
    return 0.5 * (err**2).sum(-1).mean(-1), _linear_grads(x, d_o, d_u)


def _linear_grads(x: np.ndarray, d_o: np.ndarray, d_u: np.ndarray) -> Params:
    """Chain ``dE/do (S, N, K, C)`` and ``dE/du (S, N, K)`` through the linear maps."""
    S, N, K, C = d_o.shape
    d_w = (x.T @ d_o.reshape(S, N, K * C)).reshape(S, x.shape[1], K, C).transpose(0, 2, 1, 3)
    return {"W": d_w, "b": d_o.sum(axis=1), "V": x.T @ d_u, "c": d_u.sum(axis=1)}


# --------------------------------------------------------------------------------------------
# Backprop baseline: pure functions


def backprop_forward(params: Params, x: np.ndarray, output: str = "logistic"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Hidden activity ``a (S, N, H)`` and output ``y (S, N, C)``."""
    a = expit(x @ params["W1"] + params["b1"][:, None])
    z = a @ params["W2"] + params["b2"][:, None]
    return a, (expit(z) if output == "logistic" else z)


def backprop_grads(params: Params, x: np.ndarray, d: np.ndarray, output: str = "logistic"
                   ) -> tuple[np.ndarray, Params]:
    """Mean squared-error loss ``(S,)`` and its gradients by backpropagation."""
    a, y = backprop_forward(params, x, output)
    err = d[None] - y
    n = x.shape[0]
    delta_out = -err / n
    if output == "logistic":
        delta_out = delta_out * y * (1.0 - y)
    delta_hidden = (delta_out @ params["W2"].transpose(0, 2, 1)) * a * (1.0 - a)
    grads = {"W1": x.T @ delta_hidden, "b1": delta_hidden.sum(axis=1),
             "W2": a.transpose(0, 2, 1) @ delta_out, "b2": delta_out.sum(axis=1)}
    return 0.5 * (err**2).sum(-1).mean(-1), grads


# --------------------------------------------------------------------------------------------
# Dispatch on the config


def loss_and_grads(config: ModelConfig, params: Params, x: np.ndarray, d: np.ndarray
                   ) -> tuple[np.ndarray, Params]:
    """The training objective of ``config`` (mean over cases) and its gradients."""
    if isinstance(config, BackpropConfig):
        return backprop_grads(params, x, d, config.output)
    if config.objective == "competitive":
        return competitive_grads(params, x, d, config.sigma, config.temperature)
    return cooperative_grads(params, x, d, config.temperature)


def predict_scores(config: ModelConfig, params: Params, x: np.ndarray) -> np.ndarray:
    """Class scores ``(S, N, C)``: the mixture's mean output or the network's output."""
    if isinstance(config, BackpropConfig):
        return backprop_forward(params, x, config.output)[1]
    return mixture_output(params, x, config.temperature)


def accuracy(config: ModelConfig, params: Params, x: np.ndarray, labels: np.ndarray
             ) -> np.ndarray:
    """Fraction of cases whose arg-max score is the label, shape ``(S,)``."""
    return (predict_scores(config, params, x).argmax(-1) == labels[None]).mean(-1)


def confusion_matrices(config: ModelConfig, params: Params, x: np.ndarray, labels: np.ndarray,
                       n_classes: int) -> np.ndarray:
    """Counts ``(S, n_classes, n_classes)``: entry ``[s, true, predicted]`` is the number of cases
    of class ``true`` that network ``s`` reads out (arg-max score) as ``predicted``."""
    predicted = predict_scores(config, params, x).argmax(-1)  # (S, N)
    flat = (np.asarray(labels)[None] * n_classes + predicted).astype(np.int64)
    return np.stack([np.bincount(row, minlength=n_classes**2) for row in flat]).reshape(
        -1, n_classes, n_classes)


# --------------------------------------------------------------------------------------------
# Training


@dataclass
class TrainResult:
    """A trained population of ``S`` networks.

    ``epochs_to_criterion (S,)``: epochs (full-batch updates) until the training accuracy first
    reached the criterion, ``-1`` if never (not converged). ``train_accuracy``/``test_accuracy
    (S,)``: at the stopping epoch. ``stop_epoch (S,)``: the epoch each network stopped at (the
    updates it made) and ``stopped (S,)`` why, in the words of
    :func:`core.training.trainer.write_status`: ``"target_accuracy"`` (the criterion, when
    training stops there), ``"n_steps"`` (``max_epochs``), ``"diverged"`` (a non-finite loss:
    not converged) or None (``should_stop`` interrupted it). ``curves``: arrays ``(E + 1, S)``
    per epoch from 0 (``loss``, ``train_accuracy`` and, when tracked, the held-out
    ``test_loss`` and ``test_accuracy``); after its stopping epoch a network's column repeats its
    stopping values. ``initial_params``/``params``: at the start and at the stopping epoch.
    """

    config: ModelConfig
    train_config: TrainConfig
    seeds: np.ndarray
    learning_rates: np.ndarray
    epochs_to_criterion: np.ndarray
    train_accuracy: np.ndarray
    test_accuracy: np.ndarray
    stop_epoch: np.ndarray
    stopped: tuple[str | None, ...]
    curves: dict[str, np.ndarray]
    initial_params: Params = field(repr=False)
    params: Params = field(repr=False)

    @property
    def converged(self) -> np.ndarray:
        return self.epochs_to_criterion >= 0


def train_population(config: ModelConfig, x_train: np.ndarray, y_train: np.ndarray,
                     x_test: np.ndarray, y_test: np.ndarray, seeds: np.ndarray | list[int],
                     learning_rates: np.ndarray | list[float] | float,
                     train_config: TrainConfig = TrainConfig(), progress=None,
                     track_test: bool = False,
                     should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train one network per seed by full-batch gradient descent (vectorised over seeds).

    ``x_* (N, D)`` inputs, ``y_* (N,)`` class indices; ``learning_rates`` a scalar or ``(S,)``.
    A network stops updating once its training accuracy reaches the criterion (when
    ``stop_at_criterion``) or its loss is no longer finite (diverged, not converged), and leaves
    the vectorised batch; the loop ends when none is left, or when ``should_stop()`` (asked once
    per epoch, before the update) returns True: the networks still training then stop where they
    are, with ``stopped`` None.
    ``track_test`` records the held-out loss and accuracy at every epoch (otherwise only the
    accuracy at the stop). ``progress`` is an optional callable taking the number of epochs just
    done.
    """
    seeds = np.asarray(seeds, dtype=np.int64)
    lrs = np.broadcast_to(np.asarray(learning_rates, dtype=np.float64), seeds.shape).copy()
    if np.any(lrs <= 0):
        raise ValueError(f"learning rates must be positive, got {lrs}")
    d = one_hot(y_train, config.n_out)
    d_test = one_hot(y_test, config.n_out)
    params = init_params(config, seeds)
    initial = {k: v.copy() for k, v in params.items()}
    S, E = seeds.size, train_config.max_epochs
    epochs = np.full(S, -1, dtype=np.int64)
    stop_epoch = np.zeros(S, dtype=np.int64)
    stopped: list[str | None] = [None] * S
    train_acc = np.zeros(S)
    test_acc = np.zeros(S)
    keys = ("loss", "train_accuracy") + (("test_loss", "test_accuracy") if track_test else ())
    curves = {k: np.full((E + 1, S), np.nan) for k in keys}
    live = np.arange(S)
    live_params = {k: v.copy() for k, v in params.items()}
    for epoch in range(E + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grads = loss_and_grads(config, live_params, x_train, d)
            if track_test:
                curves["test_loss"][epoch, live] = loss_and_grads(config, live_params, x_test,
                                                                  d_test)[0]
        acc_tr = accuracy(config, live_params, x_train, y_train)
        curves["loss"][epoch, live] = loss
        curves["train_accuracy"][epoch, live] = acc_tr
        if track_test:
            curves["test_accuracy"][epoch, live] = accuracy(config, live_params, x_test, y_test)
        reached = (acc_tr >= train_config.criterion) & (epochs[live] < 0)
        epochs[live[reached]] = epoch
        at_criterion = reached & train_config.stop_at_criterion
        diverged = ~np.isfinite(loss)
        interrupted = should_stop is not None and should_stop()
        stop = at_criterion | diverged | (epoch == E) | interrupted
        if stop.any():
            gone = live[stop]
            for s, div, crit in zip(gone, diverged[stop], at_criterion[stop], strict=True):
                stopped[s] = ("diverged" if div else "target_accuracy" if crit
                              else "n_steps" if epoch == E else None)
            stop_epoch[gone] = epoch
            train_acc[gone] = acc_tr[stop]
            test_acc[gone] = accuracy(config, {k: v[stop] for k, v in live_params.items()},
                                      x_test, y_test)
            for key in params:
                params[key][gone] = live_params[key][stop]
            keep = ~stop
            live = live[keep]
            live_params = {k: v[keep] for k, v in live_params.items()}
            grads = {k: v[keep] for k, v in grads.items()}
        if live.size == 0:
            break
        step = lrs[live]
        for key in live_params:
            live_params[key] -= step.reshape((-1,) + (1,) * (grads[key].ndim - 1)) * grads[key]
        if progress is not None:
            progress(1)
    rows = np.arange(stop_epoch.max() + 1)[:, None]
    fill = np.minimum(rows, stop_epoch[None])  # after its stop, a column repeats its last row
    curves = {k: np.take_along_axis(v[: rows.size], fill, axis=0) for k, v in curves.items()}
    return TrainResult(config, train_config, seeds, lrs, epochs, train_acc, test_acc, stop_epoch,
                       tuple(stopped), curves, initial, params)


# --------------------------------------------------------------------------------------------
# Table 1 protocol


@dataclass(frozen=True)
class ProtocolConfig:
    """The Table 1 protocol: tune each system's learning rate, then evaluate fresh seeds.

    Tuning runs ``n_tune_seeds`` seeds (numbered from ``tune_seed_start``) at every rate in
    ``learning_rates``; the chosen rate minimises the mean epochs to criterion with
    non-converged runs counted as ``max_epochs + 1`` (so a rate that often fails cannot win).
    Evaluation then runs ``n_seeds`` different seeds (numbered from ``seed``) at that rate.
    """

    n_seeds: int = 25
    seed: int = 0
    n_tune_seeds: int = 10
    tune_seed_start: int = 100_000
    learning_rates: tuple[float, ...] = (0.3, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0)
    train: TrainConfig = TrainConfig()

    def __post_init__(self) -> None:
        if self.n_seeds < 2 or self.n_tune_seeds < 1:
            raise ValueError(f"need n_seeds >= 2 and n_tune_seeds >= 1, got {self}")
        if not self.learning_rates or min(self.learning_rates) <= 0:
            raise ValueError(f"learning rates must be positive, got {self.learning_rates}")
        if self.tune_seed_start < self.seed + self.n_seeds:
            raise ValueError("tuning seeds must not overlap the evaluation seeds")


def censored_epochs(result: TrainResult) -> np.ndarray:
    """Epochs to criterion with non-converged runs set to ``max_epochs + 1``, shape ``(S,)``."""
    return np.where(result.converged, result.epochs_to_criterion,
                    result.train_config.max_epochs + 1)


def tune_learning_rate(config: ModelConfig, split, protocol: ProtocolConfig, progress=None
                       ) -> tuple[float, list[dict]]:
    """Pick ``config``'s learning rate on the tuning seeds; returns it and one row per rate.

    ``split`` is a :class:`core.tasks.vowels.VowelSplit` (anything with ``x_train``, ``y_train``,
    ``x_test``, ``y_test``). All rates train in one vectorised population.
    """
    rates = np.asarray(protocol.learning_rates, dtype=np.float64)
    seeds = np.arange(protocol.tune_seed_start, protocol.tune_seed_start + protocol.n_tune_seeds)
    result = train_population(config, split.x_train, split.y_train, split.x_test, split.y_test,
                              np.tile(seeds, rates.size), np.repeat(rates, seeds.size),
                              protocol.train, progress)
    scores = censored_epochs(result).reshape(rates.size, seeds.size)
    converged = result.converged.reshape(rates.size, seeds.size)
    rows = [{"system": config.label, "learning_rate": float(rate),
             "mean_censored_epochs": float(scores[i].mean()),
             "converged": int(converged[i].sum()), "runs": int(seeds.size)}
            for i, rate in enumerate(rates)]
    best = int(np.argmin(scores.mean(axis=1)))
    return float(rates[best]), rows


@dataclass
class SystemSummary:
    """One Table 1 row: a system at its tuned learning rate over the evaluation seeds."""

    system: str
    learning_rate: float
    runs: int
    converged: int
    epochs_mean: float
    epochs_sd: float
    train_accuracy_mean: float
    train_accuracy_sd: float
    test_accuracy_mean: float
    test_accuracy_sd: float
    result: TrainResult = field(repr=False)

    def row(self) -> dict:
        """The JSON/CSV-able fields (no arrays)."""
        out = asdict(self)
        out.pop("result")
        return out


def summarise(result: TrainResult) -> SystemSummary:
    """Mean and SD (ddof=1) of epochs over converged runs, accuracies over all runs."""
    conv = result.converged
    ep = result.epochs_to_criterion[conv].astype(np.float64)
    return SystemSummary(
        system=result.config.label, learning_rate=float(result.learning_rates[0]),
        runs=int(conv.size), converged=int(conv.sum()),
        epochs_mean=float(ep.mean()) if ep.size else float("nan"),
        epochs_sd=float(ep.std(ddof=1)) if ep.size > 1 else float("nan"),
        train_accuracy_mean=float(result.train_accuracy.mean()),
        train_accuracy_sd=float(result.train_accuracy.std(ddof=1)),
        test_accuracy_mean=float(result.test_accuracy.mean()),
        test_accuracy_sd=float(result.test_accuracy.std(ddof=1)), result=result)


def compare_epochs(a: TrainResult, b: TrainResult) -> dict:
    """Two-sided Mann-Whitney U test on epochs to criterion, non-converged runs ranked last.

    Returns the U statistic of ``a``, the p-value and the ratio of median censored epochs a/b.
    """
    ea, eb = censored_epochs(a), censored_epochs(b)
    test = stats.mannwhitneyu(ea, eb, alternative="two-sided")
    return {"a": a.config.label, "b": b.config.label, "u": float(test.statistic),
            "p_value": float(test.pvalue), "median_ratio": float(np.median(ea) / np.median(eb))}


def run_table1(configs: list[ModelConfig], split, protocol: ProtocolConfig = ProtocolConfig(),
               progress=None) -> tuple[list[SystemSummary], list[dict]]:
    """Tune and evaluate every system; returns the summaries and the learning-rate grid rows."""
    summaries, grid = [], []
    eval_seeds = np.arange(protocol.seed, protocol.seed + protocol.n_seeds)
    for config in configs:
        rate, rows = tune_learning_rate(config, split, protocol, progress)
        grid.extend(rows)
        result = train_population(config, split.x_train, split.y_train, split.x_test,
                                  split.y_test, eval_seeds, rate, protocol.train, progress)
        summaries.append(summarise(result))
    return summaries, grid


def responsibility_by_class(config: MixtureConfig, params: Params, x: np.ndarray,
                            labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean responsibility of each expert for each class, ``(S, n_classes, K)``.

    Competitive mixtures use the posterior ``h``; cooperative ones the gate ``p`` (they have no
    posterior). Rows sum to 1.
    """
    if config.objective == "competitive":
        weights = responsibilities(params, x, one_hot(labels, n_classes), config.sigma,
                                   config.temperature)
    else:
        weights = gate_probabilities(params, x, config.temperature)
    return np.stack([weights[:, labels == c].mean(axis=1) for c in range(n_classes)], axis=1)
