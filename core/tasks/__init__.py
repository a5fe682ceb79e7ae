"""Task batches: the 20 Yang et al. (2019) rules under the YANG19 and MPN_LAB presets.

``generate_trials(rule, config, batch_size, rng, mode="random", params=None, noise=True)`` returns
a :class:`Trials` batch (``x (T, B, n_in)``, ``y``/``c_mask (T, B, n_out)``, ``y_loc (T, B)``,
``rule``, ``epochs``, ``params``); ``accuracy(y_hat, trials, config)`` scores it and
``chance_level(rule, config)`` is what a guess that ignores the trial scores.
"""

from core.tasks.accuracy import (
    RuleScore,
    accuracy,
    accuracy_by_rule,
    chance_level,
    decode_response,
    score_by_rule,
    score_fresh_trials,
)
from core.tasks.config import MPN_LAB, PRESETS, YANG19, Duration, TaskConfig, get_preset
from core.tasks.rulesets import RULE_LABELS, RULE_SETS, RULES, resolve_rules
from core.tasks.sampler import RuleSampler, generate_mixed_trials
from core.tasks.trials import EPOCHS, Trials, concat
from core.tasks.yang import (
    LONG_EPOCH_MS,
    LONG_EPOCHS,
    RULE_SPECS,
    RuleSpec,
    encode_angle,
    generate_aligned_trials,
    generate_trials,
    interpolate_rules,
    long_test_sets,
    rule_target,
    same_epochs,
)

__all__ = [
    "EPOCHS", "LONG_EPOCHS", "LONG_EPOCH_MS", "MPN_LAB", "PRESETS", "RULES", "RULE_LABELS",
    "RULE_SETS", "RULE_SPECS", "YANG19",
    "Duration", "RuleSampler", "RuleScore", "RuleSpec", "TaskConfig", "Trials", "accuracy",
    "accuracy_by_rule", "chance_level", "concat", "decode_response", "encode_angle",
    "generate_aligned_trials", "generate_mixed_trials", "generate_trials", "get_preset",
    "interpolate_rules", "long_test_sets", "resolve_rules", "rule_target", "same_epochs",
    "score_by_rule", "score_fresh_trials",
]
