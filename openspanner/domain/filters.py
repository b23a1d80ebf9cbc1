"""The search filter of the product's REST API: a tree of and/or groups over conditions. Pure code.

The request carries it as JSON (`filter` in the bodies of
/v1/usages/search, /v1/usages/breakdowns/search and /v1/usages/export):

    {"type": "group", "op": "and", "rules": [
       {"type": "condition", "field": "metadata.provider", "op": "eq", "value": "openai"},
       {"field": "metadata.model", "op": "in", "value": ["gpt-4.1", "claude"]},
       {"field": "metadata.cached", "op": "exists"}]}

`parse_filter` checks it against the meter into frozen `Group`/`Condition`
values that storage turns into SQL (storage/queries.py, `filter_sql`), so a
tree that reaches storage only names columns from a fixed list and declared
dimensions, and carries values of the type its field has.

Semantics, chosen to agree with the product's server:

- `type` may be left out: a node with `rules` is a group, one with `field` a
  condition. Keys other than type, op, rules, field and value are refused,
  so a misspelt `rule` is not silently a condition-less filter; keys whose
  value is null count as absent.
- Fields: subject, meter, quantity, timestamp (alias event_time),
  received_at, idempotency_key, and `metadata.<dimension>` for a dimension
  the meter declares (a dimension named with dots, `metadata.tokens.in`, is
  that dimension; metadata is flat, there is no nested path to walk).
- Values have the field's type: strings for subject, meter,
  idempotency_key and string dimensions; JSON numbers for quantity and number
  dimensions; true/false for boolean dimensions; RFC 3339 text for timestamp
  and received_at. `in` takes a non-empty list of such values, `exists` none.
- `gt`/`gte`/`lt`/`lte` compare numbers numerically (9 < 10), strings by
  code point (as ClickHouse compares UTF-8 bytes), times in time; booleans
  take only eq, neq, in and exists. `contains` is a substring test on
  strings only.
- An event without the dimension matches no condition on it but `exists`:
  in particular `neq` does NOT match it (`metadata.model neq "a"` keeps only
  events that have a model other than "a"). This is the product server's
  rule (its condition is false when the field is absent, and its SQL is
  `metadata->>'k' <> v`, which is NULL, so false, for an absent key). Built-in
  fields are always present, so `exists` on them matches every event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias, TypeVar

from openspanner.domain.meters import DimensionType, Meter
from openspanner.domain.times import parse_rfc3339_us
from openspanner.domain.values import MAX_FILTER_VALUES, MAX_TIME_US, MIN_TIME_US, SUBJECT, stored_text
from openspanner.errors import InvalidArgument

# Bounds on what one request may ask storage to evaluate: the SQL grows
# with every condition and value, and recursion with every level.
MAX_FILTER_DEPTH = 32
MAX_FILTER_CONDITIONS = 1_000
MAX_IN_VALUES = MAX_FILTER_VALUES
MAX_FILTER_TREE_VALUES = 100_000

METADATA_PREFIX = "metadata."
_KEYS = ("type", "op", "rules", "field", "value")


class GroupOp(StrEnum):
    AND = "and"
    OR = "or"


class ConditionOp(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    CONTAINS = "contains"
    EXISTS = "exists"


_Op = TypeVar("_Op", GroupOp, ConditionOp)

ORDER_OPS = frozenset({ConditionOp.GT, ConditionOp.GTE, ConditionOp.LT, ConditionOp.LTE})


class ValueKind(StrEnum):
    """How a field's values compare."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TIME = "time"


_OPS_BY_KIND = {
    ValueKind.STRING: frozenset(ConditionOp),
    ValueKind.NUMBER: frozenset(ConditionOp) - {ConditionOp.CONTAINS},
    ValueKind.TIME: frozenset(ConditionOp) - {ConditionOp.CONTAINS},
    ValueKind.BOOLEAN: frozenset({ConditionOp.EQ, ConditionOp.NEQ, ConditionOp.IN, ConditionOp.EXISTS}),
}

# The built-in fields by the name a request gives; event_time is the product's alias of timestamp.
BUILT_IN_FIELDS: Mapping[str, tuple[str, ValueKind]] = {
    SUBJECT: (SUBJECT, ValueKind.STRING),
    "meter": ("meter", ValueKind.STRING),
    "quantity": ("quantity", ValueKind.NUMBER),
    "timestamp": ("timestamp", ValueKind.TIME),
    "event_time": ("timestamp", ValueKind.TIME),
    "received_at": ("received_at", ValueKind.TIME),
    "idempotency_key": ("idempotency_key", ValueKind.STRING),
}
_KIND_OF_DIMENSION = {
    DimensionType.STRING: ValueKind.STRING,
    DimensionType.NUMBER: ValueKind.NUMBER,
    DimensionType.BOOLEAN: ValueKind.BOOLEAN,
}

# A checked value: str, float (numbers), bool, or int (a time, in microseconds since the epoch).
FilterValue: TypeAlias = str | float | bool | int


@dataclass(frozen=True)
class FilterField:
    """What a condition reads: a built-in field (`dimension` None) or a declared dimension.

    `name` is canonical: event_time arrives as timestamp, a dimension as
    metadata.<name>.
    """

    name: str
    kind: ValueKind
    dimension: str | None = None

    @property
    def dimension_type(self) -> DimensionType | None:
        return None if self.dimension is None else DimensionType(self.kind.value)


@dataclass(frozen=True)
class Condition:
    """One test of one field; `values` holds one value, several for `in`, none for `exists`."""

    field: FilterField
    op: ConditionOp
    values: tuple[FilterValue, ...] = ()

    def stored_texts(self) -> tuple[str, ...]:
        """The values as dimension texts are stored (ingest's canonical text: 1.0 is "1")."""
        dimension_type = self.field.dimension_type
        assert dimension_type is not None, "only dimension values are stored as text"
        texts = tuple(stored_text(value, dimension_type) for value in self.values)
        assert all(text is not None for text in texts), "values were checked against the dimension"
        return tuple(text for text in texts if text is not None)

    def identity(self) -> list[Any]:
        """A JSON-able form equal for equal conditions (page tokens name their listing by it)."""
        return ["c", self.field.name, self.op.value, list(self.values)]


@dataclass(frozen=True)
class Group:
    """All (and) or any (or) of one or more rules."""

    op: GroupOp
    rules: tuple[FilterNode, ...] = ()

    def identity(self) -> list[Any]:
        return ["g", self.op.value, [rule.identity() for rule in self.rules]]


FilterNode: TypeAlias = Group | Condition


class _Budget:
    """Conditions and values seen so far in one tree, against the bounds."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.conditions = 0
        self.values = 0

    def add(self, values: int) -> None:
        self.conditions += 1
        self.values += values
        if self.conditions > MAX_FILTER_CONDITIONS:
            raise InvalidArgument(f"has more than {MAX_FILTER_CONDITIONS:,} conditions", field=self.root)
        if self.values > MAX_FILTER_TREE_VALUES:
            raise InvalidArgument(f"has more than {MAX_FILTER_TREE_VALUES:,} values in all", field=self.root)


def parse_filter(raw: object, meter: Meter, *, field: str = "filter") -> FilterNode | None:
    """The checked tree of a request's JSON filter, or None when there is none (null).

    `field` is the request's name of the filter; errors name the exact
    place below it, e.g. filter.rules[2].rules[0].value.
    """
    if raw is None:
        return None
    return _node(raw, meter, field, 1, _Budget(field))


def _node(raw: object, meter: Meter, path: str, depth: int, budget: _Budget) -> FilterNode:
    if not isinstance(raw, Mapping):
        raise InvalidArgument(f"must be an object (a group or a condition), got {_describe(raw)}", field=path)
    if depth > MAX_FILTER_DEPTH:
        raise InvalidArgument(f"nests deeper than {MAX_FILTER_DEPTH} levels of groups", field=path)
    given = {key: value for key, value in raw.items() if value is not None}
    for key in given:
        if key not in _KEYS:
            raise InvalidArgument(
                f"unknown key {key!r}: a filter has {', '.join(_KEYS)}", field=f"{path}.{key}"
            )
    kind = given.get("type")
    if kind is None:
        if "rules" in given and "field" in given:
            raise InvalidArgument(
                "is required when both rules and field are given: group or condition", field=f"{path}.type"
            )
        if "rules" not in given and "field" not in given:
            raise InvalidArgument("needs rules (a group) or field (a condition)", field=path)
        kind = "group" if "rules" in given else "condition"
    if kind == "group":
        return _group(given, meter, path, depth, budget)
    if kind == "condition":
        return _condition(given, meter, path, budget)
    raise InvalidArgument(f"must be group or condition, got {_describe(kind)}", field=f"{path}.type")


def _group(given: Mapping[str, Any], meter: Meter, path: str, depth: int, budget: _Budget) -> Group:
    for key in ("field", "value"):
        if key in given:
            raise InvalidArgument("belongs to conditions, not groups", field=f"{path}.{key}")
    op = _enum(GroupOp, given.get("op"), f"{path}.op")
    rules = given.get("rules")
    if not isinstance(rules, Sequence) or isinstance(rules, str):
        raise InvalidArgument(f"must be a list of filters, got {_describe(rules)}", field=f"{path}.rules")
    if not rules:
        raise InvalidArgument("needs at least one rule", field=f"{path}.rules")
    return Group(
        op, tuple(_node(rule, meter, f"{path}.rules[{i}]", depth + 1, budget) for i, rule in enumerate(rules))
    )


def _condition(given: Mapping[str, Any], meter: Meter, path: str, budget: _Budget) -> Condition:
    if "rules" in given:
        raise InvalidArgument("belongs to groups, not conditions", field=f"{path}.rules")
    checked_field = filter_field(given.get("field"), meter, field=f"{path}.field")
    op = _enum(ConditionOp, given.get("op"), f"{path}.op")
    if op not in _OPS_BY_KIND[checked_field.kind]:
        allowed = ", ".join(o.value for o in ConditionOp if o in _OPS_BY_KIND[checked_field.kind])
        raise InvalidArgument(
            f"{op.value} does not apply to {checked_field.name} (a {checked_field.kind}); use {allowed}",
            field=f"{path}.op",
        )
    where = f"{path}.value"
    value = given.get("value")
    values: tuple[FilterValue, ...]
    if op is ConditionOp.EXISTS:
        if value is not None:
            raise InvalidArgument("must be left out: exists takes no value", field=where)
        values = ()
    elif op is ConditionOp.IN:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise InvalidArgument(f"must be a non-empty list for in, got {_describe(value)}", field=where)
        if not value:
            raise InvalidArgument("must be a non-empty list for in", field=where)
        if len(value) > MAX_IN_VALUES:
            raise InvalidArgument(f"at most {MAX_IN_VALUES:,} values", field=where)
        values = tuple(_value(item, checked_field, f"{where}[{i}]") for i, item in enumerate(value))
    else:
        if value is None:
            raise InvalidArgument(f"is required for {op.value}", field=where)
        if isinstance(value, Sequence) and not isinstance(value, str):
            raise InvalidArgument(f"must be one value for {op.value} (a list needs op in)", field=where)
        values = (_value(value, checked_field, where),)
    budget.add(len(values))
    return Condition(checked_field, op, values)


def filter_field(name: object, meter: Meter, *, field: str) -> FilterField:
    """The field a condition names, checked against the meter; `field` is where the request names it."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(
            f"is required: one of {', '.join(BUILT_IN_FIELDS)} or metadata.<dimension>", field=field
        )
    name = name.strip()
    if name in BUILT_IN_FIELDS:
        canonical, kind = BUILT_IN_FIELDS[name]
        return FilterField(canonical, kind)
    if name.startswith(METADATA_PREFIX):
        key = name[len(METADATA_PREFIX):]
        dimension = meter.dimensions_by_name.get(key)
        if dimension is None:
            raise InvalidArgument(_undeclared(meter, key), field=field)
        return FilterField(METADATA_PREFIX + key, _KIND_OF_DIMENSION[dimension.type], key)
    hint = f"; write metadata.{name} for the dimension" if name in meter.dimensions_by_name else ""
    raise InvalidArgument(
        f"unknown field {name!r}{hint}: use {', '.join(BUILT_IN_FIELDS)} or metadata.<dimension>", field=field
    )


def _undeclared(meter: Meter, key: str) -> str:
    declared = ", ".join(meter.dimensions_by_name) or "none"
    return f"{key!r} is not a dimension of meter {meter.name!r} (declared: {declared})"


def _value(raw: object, checked: FilterField, where: str) -> FilterValue:
    kind = checked.kind
    if kind is ValueKind.STRING and isinstance(raw, str):
        return raw
    if kind is ValueKind.BOOLEAN and isinstance(raw, bool):
        return raw
    if kind is ValueKind.NUMBER and isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            number = float(raw)
        except OverflowError:
            raise InvalidArgument(f"is too large for a number, got {raw}", field=where) from None
        if not math.isfinite(number):
            raise InvalidArgument(f"must be a finite number, got {raw}", field=where)
        return number
    if kind is ValueKind.TIME and isinstance(raw, str):
        us = parse_rfc3339_us(raw, field=where)
        if not MIN_TIME_US <= us <= MAX_TIME_US:
            raise InvalidArgument("must be between 1900-01-01 and 2299-12-31 (what storage can hold)", field=where)
        return us
    expected = {
        ValueKind.STRING: "a string",
        ValueKind.NUMBER: "a number",
        ValueKind.BOOLEAN: "true or false",
        ValueKind.TIME: "an RFC 3339 time such as 2026-06-19T00:00:00Z",
    }[kind]
    raise InvalidArgument(f"must be {expected} like {checked.name}, got {_describe(raw)}", field=where)


def _enum(kind: type[_Op], raw: object, where: str) -> _Op:
    choices = ", ".join(member.value for member in kind)
    if raw is None:
        raise InvalidArgument(f"is required: one of {choices}", field=where)
    if isinstance(raw, str) and raw in {member.value for member in kind}:
        return kind(raw)
    raise InvalidArgument(f"must be one of {choices}, got {_describe(raw)}", field=where)


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"the string {shown!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "a list"
    return type(value).__name__
