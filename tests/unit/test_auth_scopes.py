"""Which key may call which method (auth.py): the one table both transports ask."""

from __future__ import annotations

import pytest

from openspanner.auth import Scope, allows, parse_scope, required_scopes
from openspanner.errors import InvalidArgument

QUERY_USAGE = "/openspanner.v1.QueryService/QueryUsage"
RECORD_USAGE = "/openspanner.v1.UsageService/RecordUsage"
GET_METER = "/openspanner.v1.MeterService/GetMeter"
CREATE_METER = "/openspanner.v1.MeterService/CreateMeter"


@pytest.mark.parametrize(
    ("method", "ingest", "read", "admin"),
    [
        (QUERY_USAGE, False, True, True),
        (RECORD_USAGE, True, False, True),
        (GET_METER, True, True, True),  # ingest keys read the meter they write to
        (CREATE_METER, False, False, True),
        ("/openspanner.v1.PlanService/CreatePlan", False, False, True),
        ("/openspanner.v1.PlanService/AssignPlan", False, False, True),
        ("/openspanner.v1.PlanService/GetSubjectProgress", False, True, True),
        ("/openspanner.v1.EntitlementService/Check", True, True, True),  # a service asks before it serves
        ("/openspanner.v1.EntitlementService/Consume", True, False, True),
        ("/openspanner.v1.EntitlementService/ListDecisions", False, True, True),
        ("/openspanner.v1.NewService/NotYetListed", False, False, True),  # closed until decided
    ],
)
def test_scopes_of_a_method(method: str, ingest: bool, read: bool, admin: bool) -> None:
    needed = required_scopes(method)
    assert needed is not None
    assert (allows(Scope.INGEST, needed), allows(Scope.READ, needed), allows(Scope.ADMIN, needed)) == (
        ingest, read, admin,
    )


@pytest.mark.parametrize(
    "method", ["/grpc.health.v1.Health/Check", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"]
)
def test_health_and_reflection_need_no_key(method: str) -> None:
    assert required_scopes(method) is None


def test_parse_scope() -> None:
    assert parse_scope("READ") is Scope.READ
    with pytest.raises(InvalidArgument) as refused:
        parse_scope("root", field="scope")
    assert (refused.value.field, refused.value.message) == ("scope", "must be one of ingest, read, admin, got 'root'")
