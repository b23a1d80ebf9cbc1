"""Hypothesis strategies of what a client may send: any text, any JSON, huge numbers, deep nesting.

Shared by the fuzz tests of both APIs (test_fuzz_http.py, test_fuzz_grpc.py).
Budgets are fixed and runs derandomized (FUZZ_SETTINGS), so a failure in CI
is the same failure on a developer's machine.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.harness import ServerProcess

# Derandomized, no example database (nothing written into the work tree), no deadline:
# each example is a real call to a real server, whose time the machine decides.
FUZZ_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)

CONTROL_CHARACTERS = [chr(c) for c in range(0x20)] + ["\x7f"]
# Drawn on purpose (characters() yields one only now and then); JSON's \ud800 escapes carry them.
LONE_SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)

# Numbers at the edges that matter: quantity's bound (1e15), float64's integers (2**53),
# Int64 and UInt64, past float64 (1e309 parses to inf, 10**309 stays an int).
EDGE_NUMBERS: list[int | float] = [
    0, -0.0, 1, -1, 0.5, 1e15, -1e15, 1e15 + 1, 2**53, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), 2**64,
    1.7976931348623157e308, -1.7976931348623157e308, 10**308, 10**309, -(10**400),
    float("inf"), float("-inf"), float("nan"), 5e-324,
]


# Text at the edges: empty, control characters, lone surrogates, astral characters, long.
EDGE_TEXTS = ["", "\x00", "a\nb", "\x7f", "\ud800", "x\udfff", "\udbff\udbff", "é", "𝄞", " ", "x" * 300]


def edge_values(surrogates: bool = True) -> st.SearchStrategy[Any]:
    """One value at an edge: a text, a number, an empty container, null."""
    edge_texts = [t for t in EDGE_TEXTS if surrogates or not any(0xD800 <= ord(c) <= 0xDFFF for c in t)]
    return st.one_of(st.sampled_from(edge_texts), st.sampled_from(EDGE_NUMBERS), st.sampled_from([[], {}, None, True]))


def texts(max_size: int = 12, surrogates: bool = True) -> st.SearchStrategy[str]:
    """Any text, often with control characters; with `surrogates`, lone surrogates too
    (only JSON can carry those: protobuf refuses to encode them)."""
    alphabet: st.SearchStrategy[str] = st.one_of(
        st.characters(exclude_categories=["Cs"]), st.sampled_from(CONTROL_CHARACTERS)
    )
    if surrogates:
        alphabet = st.one_of(alphabet, LONE_SURROGATES)
    return st.text(alphabet, max_size=max_size)


def numbers() -> st.SearchStrategy[int | float]:
    return st.one_of(
        st.sampled_from(EDGE_NUMBERS),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**400), 10**400),
    )


def json_values(
    text: st.SearchStrategy[str] | None = None, max_leaves: int = 12, surrogates: bool = True
) -> st.SearchStrategy[Any]:
    """Any JSON value (with Python's NaN and Infinity), a few levels deep."""
    text = text if text is not None else texts(surrogates=surrogates)
    scalars = st.one_of(edge_values(surrogates), st.none(), st.booleans(), numbers(), text)
    return st.recursive(
        scalars,
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)),
        max_leaves=max_leaves,
    )


@st.composite
def deep_json_text(draw: st.DrawFn, max_depth: int = 1500) -> str:
    """JSON text of arrays or objects nested up to `max_depth` levels (written out, as
    json.dumps itself would recurse too deep)."""
    depth = draw(st.one_of(st.integers(1, 120), st.integers(1, max_depth)))
    inner = json.dumps(draw(st.one_of(st.none(), st.integers(0, 9), st.just("x"))))
    if draw(st.booleans()):
        return "[" * depth + inner + "]" * depth
    return '{"a":' * depth + inner + "}" * depth


def page_tokens() -> st.SearchStrategy[str]:
    """Page tokens a client could make up: any text, base64 of any bytes, base64 of JSON of
    any shape (deep, huge numbers, the right keys with wrong values)."""
    shaped = st.fixed_dictionaries(
        {},
        optional={
            "a": st.one_of(numbers(), texts()),
            "t": st.one_of(numbers(), texts()),
            "k": st.one_of(texts(), numbers(), st.none()),
            "f": st.one_of(texts(), st.none()),
        },
    )

    def encoded(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")

    return st.one_of(
        texts(max_size=40, surrogates=False),
        st.binary(max_size=40).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
        shaped.map(lambda payload: encoded(json.dumps(payload))),
        json_values().map(lambda value: encoded(json.dumps(value))),
        deep_json_text().map(encoded),
    )


@contextmanager
def server_tracebacks(server: ServerProcess) -> Iterator[None]:
    """A failing fuzz test also shows the tracebacks the server logged meanwhile: the wire
    carries only "internal error", by design."""
    seen = len(server.log_lines)
    try:
        yield
    except AssertionError as error:
        logged = [e.get("exception", "") for e in server.log_events()[seen:] if e.get("exception")]
        if logged:
            error.add_note("server tracebacks:\n" + "\n".join(t[-2000:] for t in logged[-3:]))
        raise
