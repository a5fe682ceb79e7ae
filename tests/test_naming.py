import pytest

from core.training.naming import (
    RunName,
    format_strength,
    parse_regulariser_feature,
    parse_run_name,
    parse_strength,
    regulariser_feature,
    run_name,
)

NAMES = [
    "everything_seed749_L21e4+hidden300+batch128+angle",
    "everything_seed0_noreg+hidden8+batch4",
    "go_dm_family_seed513_L11e5aL21e3gru+hidden150+batch640+angle",
    "delaygo_seed12_L25e5vanilla+hidden64+batch32+angle+extra",
    "reach_seed3_L21e4+hidden200+batch1",
]


@pytest.mark.parametrize("name", NAMES)
def test_build_of_parse_is_identity(name):
    parsed = parse_run_name(name)
    assert run_name(parsed.task, parsed.seed, parsed.feature, parsed.hidden, parsed.batch,
                    parsed.accfeature) == name
    assert str(parsed) == name


def test_parse_of_build_recovers_fields():
    fields = RunName("go_dm_family", 945, "L21e4", 150, 640, "+angle")
    assert parse_run_name(str(fields)) == fields
    example = parse_run_name("everything_seed749_L21e4+hidden300+batch128+angle")
    assert example == RunName("everything", 749, "L21e4", 300, 128, "+angle")


@pytest.mark.parametrize("bad", [
    "everything_seed749+hidden300+batch128",  # no feature
    "everything_L21e4+hidden300+batch128",  # no seed
    "everything_seed7_L21e4+hidden300",  # no batch
    "everything_seed7_L21e4+hidden300+batch12+",  # empty accfeature word
    "a/b_seed1_x+hidden1+batch1",
])
def test_parse_rejects_malformed_names(bad):
    with pytest.raises(ValueError, match="not a run name"):
        parse_run_name(bad)


@pytest.mark.parametrize("kwargs", [
    dict(task="a+b"), dict(task="x_seed1"), dict(feature="L2+1"), dict(accfeature="angle"),
    dict(seed=-1), dict(hidden=1.5),
])
def test_build_rejects_ambiguous_fields(kwargs):
    base = dict(task="everything", seed=1, feature="L21e4", hidden=8, batch=4, accfeature="")
    with pytest.raises(ValueError, match="run name"):
        run_name(**{**base, **kwargs})


@pytest.mark.parametrize("value, code", [(1e-4, "1e4"), (2.5e-4, "25e5"), (0.5, "5e1"),
                                         (1.0, "1e0"), (3e-7, "3e7")])
def test_strength_codes(value, code):
    assert format_strength(value) == code
    assert parse_strength(code) == pytest.approx(value, rel=1e-12)


def test_regulariser_feature_round_trip():
    assert regulariser_feature(l2=1e-4) == "L21e4"
    assert regulariser_feature() == "noreg"
    feature = regulariser_feature(l1=1e-5, l2=2e-4, act_l2=1e-3)
    assert feature == "L11e5L22e4aL21e3"
    strengths, descriptor = parse_regulariser_feature(feature + "gru")
    assert strengths == pytest.approx({"l1": 1e-5, "l2": 2e-4, "l2_sum": 0.0, "act_l1": 0.0,
                                       "act_l2": 1e-3})
    assert descriptor == "gru"
    lab = regulariser_feature(l2_sum=1e-3, act_l2=1e-3)  # the MPN lab's sum-based weight L2
    assert lab == "sL21e3aL21e3"
    assert parse_regulariser_feature(lab)[0] == pytest.approx(
        {"l1": 0.0, "l2": 0.0, "l2_sum": 1e-3, "act_l1": 0.0, "act_l2": 1e-3})
    assert parse_regulariser_feature("noreg") == (dict.fromkeys(strengths, 0.0), "")
    with pytest.raises(ValueError):
        parse_regulariser_feature("gruL21e4")
    with pytest.raises(ValueError):
        format_strength(0.0)
