"""Rule names, named rule sets and readable labels (Yang et al. 2019, Fig. 1), defined once."""

from __future__ import annotations

from collections.abc import Sequence

#: The 20 rules of Yang et al. (2019), in the paper's order (also the default rule-unit order).
RULES: tuple[str, ...] = (
    "fdgo", "reactgo", "delaygo", "fdanti", "reactanti", "delayanti",
    "dm1", "dm2", "contextdm1", "contextdm2", "multidm",
    "delaydm1", "delaydm2", "contextdelaydm1", "contextdelaydm2", "multidelaydm",
    "dmsgo", "dmsnogo", "dmcgo", "dmcnogo",
)

#: Named rule sets. ``everything`` is the MPN lab's 15-rule multi-task set.
RULE_SETS: dict[str, tuple[str, ...]] = {
    "all": RULES,
    "everything": (
        "fdgo", "fdanti", "reactgo", "reactanti", "delaygo", "delayanti",
        "delaydm1", "delaydm2", "contextdelaydm1", "contextdelaydm2", "multidelaydm",
        "dmsgo", "dmsnogo", "dmcgo", "dmcnogo",
    ),
    "reach": ("fdgo", "reactgo", "delaygo", "fdanti", "reactanti", "delayanti"),
    "go": ("fdgo", "reactgo", "delaygo"),
    "anti": ("fdanti", "reactanti", "delayanti"),
    "decision": ("dm1", "dm2", "contextdm1", "contextdm2", "multidm",
                 "delaydm1", "delaydm2", "contextdelaydm1", "contextdelaydm2", "multidelaydm"),
    "dm": ("dm1", "dm2", "contextdm1", "contextdm2", "multidm"),
    "delaydm": ("delaydm1", "delaydm2", "contextdelaydm1", "contextdelaydm2", "multidelaydm"),
    "contextdm": ("contextdm1", "contextdm2", "contextdelaydm1", "contextdelaydm2"),
    "match": ("dmsgo", "dmsnogo", "dmcgo", "dmcnogo"),
    "dms": ("dmsgo", "dmsnogo"),
    "dmc": ("dmcgo", "dmcnogo"),
    "mante": ("contextdm1", "contextdm2"),
}

#: Readable labels as in Yang et al. (2019) figures.
RULE_LABELS: dict[str, str] = {
    "fdgo": "Go", "reactgo": "RT Go", "delaygo": "Dly Go",
    "fdanti": "Anti", "reactanti": "RT Anti", "delayanti": "Dly Anti",
    "dm1": "DM 1", "dm2": "DM 2", "contextdm1": "Ctx DM 1", "contextdm2": "Ctx DM 2",
    "multidm": "MultSen DM", "delaydm1": "Dly DM 1", "delaydm2": "Dly DM 2",
    "contextdelaydm1": "Ctx Dly DM 1", "contextdelaydm2": "Ctx Dly DM 2",
    "multidelaydm": "MultSen Dly DM",
    "dmsgo": "DMS", "dmsnogo": "DNMS", "dmcgo": "DMC", "dmcnogo": "DNMC",
}


def resolve_rules(rules: str | Sequence[str]) -> list[str]:
    """A rule-set name, a single rule name, or a list of rule names -> list of rule names.

    Raises ValueError naming the unknown entry and the accepted names.
    """
    if isinstance(rules, str):
        if rules in RULE_SETS:
            return list(RULE_SETS[rules])
        if rules in RULES:
            return [rules]
        raise ValueError(f"unknown rule or rule set {rules!r}; rule sets: {sorted(RULE_SETS)}, "
                         f"rules: {list(RULES)}")
    out = list(rules)
    if not out:
        raise ValueError("empty rule list")
    for r in out:
        if r not in RULES:
            raise ValueError(f"unknown rule {r!r}; expected one of {list(RULES)}")
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate rules in {out}")
    return out
