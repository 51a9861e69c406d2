"""The speed tier's control model keeps the operator's setting only for its TTL, then falls back to full steps."""

from __future__ import annotations

import sys
import types

sys.modules.setdefault("triton_python_backend_utils", types.ModuleType("triton_python_backend_utils"))

from engine_builder.triton_models.speed_tier_model import MAX_TTL_S, TierSetting  # noqa: E402


def test_a_setting_holds_for_its_ttl_then_lapses_to_full_steps():
    setting = TierSetting()
    assert setting.current(0.0) == 0
    setting.set(20, 60.0, now=100.0)
    assert setting.current(159.0) == 20
    assert setting.current(160.0) == 0  # the operator stopped refreshing: full steps


def test_zero_turns_it_off_and_a_huge_ttl_is_capped():
    setting = TierSetting()
    setting.set(20, 1e9, now=0.0)
    assert setting.current(MAX_TTL_S + 1) == 0
    setting.set(0, 60.0, now=0.0)
    assert setting.current(1.0) == 0
