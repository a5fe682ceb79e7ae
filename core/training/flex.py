"""Network kinds at equal trainable-parameter counts (the MPN lab's ``flex_task``).

The lab compares an MPN (with and without recurrent weights) against a leaky RNN "of the same
size", but builds them with equal hidden sizes and a default embedding, which gives unequal
parameter counts. Here the leaky RNN with ``config.hidden`` units sets the target and each MPN's
hidden and embedding sizes are chosen by :func:`core.models.sizing.match_mpn_size` from counts of
built models; :data:`TOLERANCE` bounds the relative difference.
"""

from __future__ import annotations

from core.models import build_model
from core.models.sizing import count_trainable, match_mpn_size
from core.training.config import PAPER_MODELS, TrainConfig, model_config

#: Largest accepted relative difference between a network's count and the target.
TOLERANCE = 0.02
#: Network variants: name -> (training-config network kind, model overrides).
FLEX_NETWORKS: dict[str, tuple[str, dict]] = {
    "mpn": ("mpn", PAPER_MODELS["mpn"]),
    "mpn-rec": ("mpn", {**PAPER_MODELS["mpn"], "recurrent": True}),
    "rnn": ("vanilla", PAPER_MODELS["vanilla"]),
}


def matched_configs(config: TrainConfig, n_in: int, n_out: int, networks: list[str]
                    ) -> tuple[int, dict[str, tuple[TrainConfig, int]]]:
    """``(target, {network: (training config, trainable parameters)})``: the target is the
    count of a leaky RNN with ``config.hidden`` units; every MPN variant gets the hidden and
    embedding sizes whose count is nearest to it. ValueError (naming both counts) if a network
    misses the target by more than :data:`TOLERANCE`, or for an unknown network."""
    unknown = [n for n in networks if n not in FLEX_NETWORKS]
    if unknown:
        raise ValueError(f"unknown networks {unknown}; expected some of {sorted(FLEX_NETWORKS)}")
    rnn = config.replace(network="vanilla", model=dict(FLEX_NETWORKS["rnn"][1]))
    target = count_trainable(build_model("vanilla", model_config(rnn, n_in, n_out)))
    out: dict[str, tuple[TrainConfig, int]] = {}
    for name in networks:
        kind, overrides = FLEX_NETWORKS[name]
        variant = config.replace(network=kind, model=dict(overrides))
        if kind == "mpn":
            sized, count = match_mpn_size(model_config(variant, n_in, n_out), target)
            variant = variant.replace(hidden=sized["n_hidden"],
                                      model={**overrides, "n_embed": sized["n_embed"]})
        count = count_trainable(build_model(kind, model_config(variant, n_in, n_out)))
        if abs(count - target) > TOLERANCE * target:
            raise ValueError(f"{name}: {count} trainable parameters, target {target} "
                             f"(more than {TOLERANCE:.0%} apart)")
        out[name] = (variant, count)
    return target, out
