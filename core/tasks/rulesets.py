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
    """Rule names from rule names and rule-set names, mixed freely: one name, a comma-separated
    string (``"go,anti"``, ``"reach, dm1"``) or a sequence of names; every rule set expands in
    place to its rules, in its order.

    The one parser of rule lists (scripts pass their ``--rules``/``--probes`` text as is).
    Raises ValueError naming the unknown entry and the accepted names, for an empty list, or for
    a rule named twice (directly or through a set).
    """
    items = [str(r).strip() for r in (rules.split(",") if isinstance(rules, str) else rules)]
    if not items or not all(items):
        raise ValueError(f"empty rule list or empty entry in {rules!r}")
    out: list[str] = []
    for item in items:
        if item in RULE_SETS:
            out.extend(RULE_SETS[item])
        elif item in RULES:
            out.append(item)
        else:
            raise ValueError(f"unknown rule or rule set {item!r}; rule sets: "
                             f"{sorted(RULE_SETS)}, rules: {list(RULES)}")
    twice = sorted({r for r in out if out.count(r) > 1})
    if twice:
        raise ValueError(f"rules named twice in {rules!r}: {twice}")
    return out
