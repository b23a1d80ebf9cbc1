"""Bucket search limits and the export CSV, byte for byte as the product's server writes it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from openspanner.domain.buckets import (
    CSV_HEADER,
    BucketCsvRow,
    bucket_csv,
    bucket_window_size,
    check_bucket_range,
    format_quantity,
    group_value_text,
)
from openspanner.domain.meters import Aggregation
from openspanner.domain.queries import plan_usage_query, usage_rows
from openspanner.domain.times import format_rfc3339, parse_rfc3339_us
from openspanner.domain.windows import WindowSize
from openspanner.errors import InvalidArgument
from tests.stored_events import BASE_US, HOUR_US, START_US, meter, stored


def t(text: str) -> int:
    return parse_rfc3339_us(text, field="t")


def row(**fields: object) -> BucketCsvRow:
    base: dict[str, object] = {
        "bucket_start_us": t("2026-06-19T00:00:00Z"), "subject": "org_123", "meter": "ai_tokens",
        "bucket_size": "day", "aggregation": "sum", "unit": "token", "quantity": 1842.0,
    }
    base.update(fields)
    return BucketCsvRow(**base)  # type: ignore[arg-type]


def test_header_and_a_plain_row() -> None:
    assert bucket_csv([row()], []) == (
        "bucket_start,subject,meter,bucket_size,aggregation,unit,quantity\n"
        "2026-06-19T00:00:00Z,org_123,ai_tokens,day,sum,token,1842\n"
    )
    assert bucket_csv([], ["subject"]) == ",".join(CSV_HEADER) + "\n"


def test_one_column_per_group_by_name_but_subject() -> None:
    rows = [
        row(group={"model": "gpt-4.1", "tokens": 10.0, "cached": True}),
        row(subject="org_9", quantity=0.5, group={"model": "claude", "cached": False}),
    ]
    assert bucket_csv(rows, ["model", "subject", "tokens", "cached"]) == (
        "bucket_start,subject,meter,bucket_size,aggregation,unit,quantity,model,tokens,cached\n"
        "2026-06-19T00:00:00Z,org_123,ai_tokens,day,sum,token,1842,gpt-4.1,10,true\n"
        "2026-06-19T00:00:00Z,org_9,ai_tokens,day,sum,token,0.5,claude,,false\n"
    )


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("a,b", '"a,b"'),
        ('say "hi"', '"say ""hi"""'),
        ("two\nlines", '"two\nlines"'),
        ("carriage\rreturn", '"carriage\rreturn"'),
        (" leading space", '" leading space"'),
        ("\tleading tab", '"\tleading tab"'),
        ("trailing space ", "trailing space "),
        ("\\.", '"\\."'),
        ("", ""),
        ("é-ü", "é-ü"),
        ("'single'", "'single'"),
    ],
)
def test_cells_are_quoted_as_go_quotes_them(value: str, cell: str) -> None:
    text = bucket_csv([row(subject=value, group={"model": value})], ["model"])
    assert text.splitlines(keepends=True)[0].endswith("quantity,model\n")
    assert text.endswith(f"\n2026-06-19T00:00:00Z,{cell},ai_tokens,day,sum,token,1842,{cell}\n")
    # Any CSV reader gets the value back.
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[1][1] == parsed[1][7] == value


@pytest.mark.parametrize(
    ("quantity", "text"),
    [
        (1842.0, "1842"),
        (0.5, "0.5"),
        (1e21, "1000000000000000000000"),
        (1e-7, "0.0000001"),
        (0.1 + 0.2, "0.30000000000000004"),
        (100.0, "100"),
        (0.0, "0"),
        (-0.0, "-0"),
        (-2.5, "-2.5"),
        (123456789.125, "123456789.125"),
        (2.0**53 + 2, "9007199254740994"),
        (1.7976931348623157e308, "17976931348623157" + "0" * 292),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
        (None, ""),
    ],
)
def test_quantity_is_the_shortest_decimal_without_exponent(quantity: float | None, text: str) -> None:
    assert format_quantity(quantity) == text
    if quantity is not None and text not in ("+Inf", "NaN"):
        assert float(text) == quantity


def test_bucket_start_keeps_a_fraction_and_group_values_are_text() -> None:
    assert bucket_csv([row(bucket_start_us=t("2026-06-19T00:00:00.25Z"))], []).splitlines()[1].startswith(
        "2026-06-19T00:00:00.25Z,"
    )
    assert [group_value_text(v) for v in ("x", 1.0, 2.5, 1e21, True, False, None)] == [
        "x", "1", "2.5", "1e+21", "true", "false", "",
    ]


def test_bucket_sizes() -> None:
    assert bucket_window_size(None) is bucket_window_size("") is bucket_window_size("day") is WindowSize.DAY
    assert bucket_window_size("hour") is WindowSize.HOUR
    assert bucket_window_size("month") is WindowSize.MONTH
    assert bucket_window_size("minute") is WindowSize.MINUTE  # our extension
    with pytest.raises(InvalidArgument) as caught:
        bucket_window_size("week")
    assert (caught.value.field, caught.value.message) == (
        "bucket_size", "must be hour, day or month (or minute), got 'week'"
    )


@pytest.mark.parametrize(
    ("size", "start", "longest_end"),
    [
        (WindowSize.MINUTE, "2026-06-19T00:00:00Z", "2026-06-20T00:00:00Z"),
        (WindowSize.HOUR, "2026-06-19T00:00:00Z", "2026-07-20T00:00:00Z"),
        (WindowSize.DAY, "2026-01-01T00:00:00Z", "2027-01-02T00:00:00Z"),
        (WindowSize.DAY, "2027-06-01T12:00:00Z", "2028-06-01T12:00:00Z"),  # a leap year: 366 days exactly
        (WindowSize.MONTH, "2026-06-19T10:30:00.5Z", "2031-06-19T10:30:00.5Z"),
        (WindowSize.MONTH, "2024-02-29T00:00:00Z", "2029-03-01T00:00:00Z"),  # as Go's AddDate(5, 0, 0)
    ],
)
def test_longest_range_per_bucket_size(size: WindowSize, start: str, longest_end: str) -> None:
    assert check_bucket_range(t(start), t(longest_end), size) == (t(start), t(longest_end))
    with pytest.raises(InvalidArgument) as caught:
        check_bucket_range(t(start), t(longest_end) + 1, size)
    assert caught.value.field == "to"
    assert f"{size} buckets cover at most" in caught.value.message


def test_range_errors_name_from_and_to() -> None:
    cases = [((None, t("2026-01-01T00:00:00Z")), "from", "is required"),
             ((t("2026-01-01T00:00:00Z"), None), "to", "is required"),
             ((t("2026-01-02T00:00:00Z"), t("2026-01-01T00:00:00Z")), "to", "must be after from"),
             ((t("2026-01-01T00:00:00Z"), t("2026-01-01T00:00:00Z")), "to", "must be after from")]
    for (start, end), field, message in cases:
        with pytest.raises(InvalidArgument) as caught:
            check_bucket_range(start, end, WindowSize.DAY)
        assert (caught.value.field, caught.value.message[: len(message)]) == (field, message)
    with pytest.raises(InvalidArgument) as caught:
        check_bucket_range(t("2026-01-01T00:00:00Z"), t("2026-03-01T00:00:00Z"), WindowSize.HOUR)
    assert caught.value.message == (
        "is too far after from: hour buckets cover at most 31 days; use a larger bucket_size (day) or a shorter range"
    )


def test_a_usage_query_exported(tmp_path: Path) -> None:
    """What the export handler does: check the range, plan the windows, map UsageRow to BucketCsvRow."""
    m = meter("exported", Aggregation.SUM)
    size = bucket_window_size("hour")
    start, end = check_bucket_range(START_US, BASE_US + 3 * HOUR_US, size)
    query = plan_usage_query(
        m, start_us=start, end_us=end, window_size=size, time_zone_name="UTC", subjects=[], filters=[],
        group_by=["subject", "model"], fill=False,
    )
    with stored(tmp_path, [m]) as store:
        rows = usage_rows(query, store.usage(query))
    exported = bucket_csv(
        (
            BucketCsvRow(r.window.bucket * 1_000_000, r.subject or "", m.name, size.value, m.aggregation.value,
                         m.unit, r.value, dict(r.group))
            for r in rows
        ),
        query.group_by,
    )
    starts = [format_rfc3339(BASE_US + h * HOUR_US) for h in range(3)]
    assert exported == (
        "bucket_start,subject,meter,bucket_size,aggregation,unit,quantity,model\n"
        f"{starts[0]},org_1,exported,hour,sum,token,10,gpt-4.1\n"
        f"{starts[1]},org_1,exported,hour,sum,token,5,gpt-4o\n"
        f"{starts[1]},org_2,exported,hour,sum,token,7.5,claude\n"
        f"{starts[2]},org_2,exported,hour,sum,token,1,\n"  # e04's model is the empty string
    )
