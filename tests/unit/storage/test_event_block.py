"""EventBlock: validated events in columns, the same events as the rows they were made from."""

from __future__ import annotations

from openspanner.storage.events import COLUMN_NAMES, EventBlock, EventRow


def row(key: str, meter: str = "m", at_us: int = 10) -> EventRow:
    return EventRow(meter, key, f"s-{key}", at_us, float(len(key)), {"region": key}, 30, at_us + 1, at_us + 2)


def test_a_block_holds_the_rows_it_was_made_from_in_order() -> None:
    rows = [row("a"), row("bb", "n"), row("ccc")]
    block = EventBlock.of(rows)
    assert len(block) == 3 and list(block) == rows and block == rows
    assert block[1] == rows[1] and block[-1] == rows[-1]
    assert isinstance(block[1:], EventBlock) and block[1:] == rows[1:]
    assert EventBlock.of(block) is block


def test_blocks_join_in_order_and_rows_join_blocks() -> None:
    first, second = EventBlock.of([row("a"), row("b")]), EventBlock.of([row("c")])
    assert EventBlock.joined([first, second]) == [row("a"), row("b"), row("c")]
    assert EventBlock.joined([first, [row("d")]]) == [row("a"), row("b"), row("d")]
    assert EventBlock.joined([second]) is second


def test_taken_keeps_the_rows_marked() -> None:
    block = EventBlock.of([row("a"), row("b"), row("c")])
    assert block.taken([True, False, True]) == [row("a"), row("c")]


def test_insert_columns_follow_the_tables_column_order() -> None:
    (columns,) = [EventBlock.of([row("k", "m", 10)]).insert_columns()]
    by_name = {name: values[0] for name, values in zip(COLUMN_NAMES, columns, strict=True)}
    assert by_name == {
        "meter": "m", "subject": "s-k", "timestamp": 10, "idempotency_key": "k", "quantity": 1.0,
        "metadata": {"region": "k"}, "ingested_at": 12, "retention_days": 30, "client_time_us": 11,
    }
