"""A meter's JSON form parses only the aggregation words the proto declares."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from google.protobuf import json_format

from openspanner.v1 import meter_pb2


def meter(**fields: Any) -> meter_pb2.Meter:
    definition = {"name": f"m_{uuid.uuid4().hex[:10]}", "aggregation": "sum"}
    definition.update(fields)
    return json_format.ParseDict(definition, meter_pb2.Meter())


def test_unknown_aggregation_word_is_refused_by_json_parsing() -> None:
    with pytest.raises(json_format.ParseError, match="aggregation"):
        meter(aggregation="median")


def test_the_ninth_aggregation_and_its_dimension_parse_from_json() -> None:
    parsed = meter(aggregation="unique_count", unique_dimension="user")
    assert (parsed.aggregation, parsed.unique_dimension) == (meter_pb2.unique_count, "user")
    assert json_format.MessageToDict(parsed, preserving_proto_field_name=True)["unique_dimension"] == "user"
