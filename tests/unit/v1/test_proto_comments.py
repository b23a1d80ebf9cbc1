"""The protos carry the comments that reflection serves (tests/integration/test_reflection.py asks for each)."""

from __future__ import annotations

from tests.support.protos import commented_declarations

DECLARATIONS = commented_declarations()


def test_the_protos_have_commented_methods_services_and_messages() -> None:
    names = [name for name, _ in DECLARATIONS]
    assert "openspanner.v1.MeterService.CreateMeter" in names
    assert "open_spanner.v1.UsageService" in names
    assert "openspanner.v1.Meter" in names
