"""core.models.build_model: every registered kind refuses a config of another shape in one line."""

import pytest

from core.models import MODEL_KINDS, build_model


@pytest.mark.parametrize("kind", sorted(MODEL_KINDS))
def test_build_model_refuses_a_config_of_another_shape_in_one_line(kind):
    with pytest.raises(ValueError, match=f"does not fit a '{kind}' model: .*bogus") as err:
        build_model(kind, {"bogus": 1})
    assert "\n" not in str(err.value)


def test_build_model_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown model kind 'lstm9'"):
        build_model("lstm9", {})
