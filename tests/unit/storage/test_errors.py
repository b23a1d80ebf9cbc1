"""Storage errors classified once: retried, split to find the events storage refuses, or given up at once.

Classifier tests raise their exceptions from the real embedded engine where
it can produce them (marked "engine"); the failures only a ClickHouse
server or a network produces (too many parts, Keeper, HTTP) are
clickhouse-connect's exception types built with a server's message
(marked "constructed"), since no ClickHouse server runs here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from openspanner.storage.errors import CLASS_OF_CODE, Consequence, classify, is_storage_error, refusal, unavailable
from tests.harness import storage_at
from tests.support.refusals import METER, POISON, refuse_poison


def raised(call: Any) -> BaseException:
    try:
        call()
    except Exception as error:
        return error
    raise AssertionError("the call did not fail")


def test_every_classified_code_has_the_name_the_engine_gives_it(tmp_path: Path) -> None:  # engine
    with storage_at(tmp_path, "codes") as client:
        names = dict(
            client.query(
                "SELECT code, errorCodeToName(toUInt32(code)) FROM (SELECT arrayJoin({codes:Array(UInt32)}) AS code)",
                parameters={"codes": sorted(CLASS_OF_CODE)},
            ).result_rows
        )
    assert {code: name for code, (_, _, name) in CLASS_OF_CODE.items()} == names


def test_engine_errors_are_classified_by_their_code(tmp_path: Path) -> None:  # engine
    with storage_at(tmp_path, "engine") as client:
        refuse_poison(client)
        columns = ["meter", "subject", "timestamp", "idempotency_key", "quantity", "metadata", "retention_days"]
        good = [METER, "org_1", time.time_ns() // 1000, "k", 1.0, {}, 30]
        cases = {
            "missing table": raised(lambda: client.query("SELECT * FROM no_such_table")),
            "syntax": raised(lambda: client.query("SELEC 1")),
            "constraint": raised(lambda: client.insert("usage_events", [good, [METER, POISON, *good[2:]]],
                                                       column_names=columns)),
            "unserializable value": raised(lambda: client.insert("usage_events", [[*good[:-1], 70_000]],
                                                                 column_names=columns)),
            "memory": raised(lambda: client.query("SELECT groupArray(number) FROM numbers(10000000)",
                                                  settings={"max_memory_usage": 1_000_000})),
            "timeout": raised(lambda: client.query("SELECT sleepEachRow(0.5) FROM numbers(4)",
                                                   settings={"max_execution_time": 0.5,
                                                             "function_sleep_max_microseconds_per_block": 5_000_000})),
        }
    found = {what: (classify(e).kind, classify(e).consequence, classify(e).code) for what, e in cases.items()}
    assert found == {
        "missing table": ("schema", Consequence.GIVE_UP, 60),
        "syntax": ("query", Consequence.GIVE_UP, 62),
        "constraint": ("rejected_data", Consequence.SPLIT, 469),
        "unserializable value": ("rejected_data", Consequence.SPLIT, None),  # clickhouse-connect's DataError
        "memory": ("memory", Consequence.RETRY, 241),
        "timeout": ("timeout", Consequence.RETRY, 159),
    }
    assert isinstance(cases["unserializable value"], DataError)
    assert all(is_storage_error(error) for error in cases.values())
    constraint = refusal(classify(cases["constraint"]))
    # One line, without the table's UUID or the row's place in the block (which differs per block).
    assert constraint.field == "subject"
    assert constraint.message == (
        "storage refused this event (VIOLATED_CONSTRAINT): Constraint `refuse_poison` for table engine.usage_events"
        f" is violated. Expression: (subject != '{POISON}'). Column values: subject = '{POISON}'."
    )


@pytest.mark.parametrize(
    ("error", "kind", "consequence"),
    [  # constructed: as clickhouse-connect raises what a ClickHouse server answers over HTTP
        (DatabaseError("Received ClickHouse exception, code: 252, server response: Code: 252. DB::Exception: Too"
                       " many parts (3001). Merges are processing significantly slower than inserts."
                       " (TOO_MANY_PARTS) (version 24.8.4.13 (official build))", code=252, name="TOO_MANY_PARTS"),
         "too_many_parts", Consequence.RETRY),
        (DatabaseError("Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 200)."
                       " (TOO_MANY_PARTS)", code=252), "block_too_large", Consequence.SPLIT),
        (DatabaseError("Code: 241. DB::Exception: Memory limit (total) exceeded (MEMORY_LIMIT_EXCEEDED)", code=241),
         "memory", Consequence.RETRY),
        (DatabaseError("Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE)",
                       code=243), "disk", Consequence.RETRY),
        (DatabaseError("Code: 202. DB::Exception: Too many simultaneous queries. Maximum: 100."
                       " (TOO_MANY_SIMULTANEOUS_QUERIES)", code=202), "overloaded", Consequence.RETRY),
        (DatabaseError("Code: 999. Coordination::Exception: Connection loss. (KEEPER_EXCEPTION)", code=999),
         "replication", Consequence.RETRY),
        (DatabaseError("Code: 319. DB::Exception: Unknown status, client must retry. (UNKNOWN_STATUS_OF_INSERT)",
                       code=319), "replication", Consequence.RETRY),
        (DatabaseError("Code: 209. DB::NetException: Timeout exceeded while reading from socket. (SOCKET_TIMEOUT)",
                       code=209), "timeout", Consequence.RETRY),
        (DatabaseError("Code: 210. DB::NetException: Connection reset by peer. (NETWORK_ERROR)", code=210),
         "network", Consequence.RETRY),
        (DatabaseError("Code: 425. DB::ErrnoException: Cannot open file. (SYSTEM_ERROR)", code=425),
         "disk", Consequence.RETRY),
        (DatabaseError("Code: 516. DB::Exception: default: Authentication failed. (AUTHENTICATION_FAILED)",
                       code=516), "access", Consequence.GIVE_UP),
        # Without the detail (show_clickhouse_errors=False) the header's code still decides.
        (DatabaseError("The ClickHouse server returned an error", code=252), "too_many_parts", Consequence.RETRY),
        # An older clickhouse-connect, or the engine's own exception: the code read from the text.
        (RuntimeError("Code: 469. DB::Exception: Constraint `c` is violated. (VIOLATED_CONSTRAINT)"),
         "rejected_data", Consequence.SPLIT),
        (OperationalError("Error HTTPConnectionPool(host='ch', port=8123): Max retries exceeded executing HTTP"
                          " request attempt 1 (http://ch:8123)"), "network", Consequence.RETRY),
        (DatabaseError("HTTP driver received HTTP status 503, server response: upstream unavailable"),
         "overloaded", Consequence.RETRY),
        (DatabaseError("HTTP driver received HTTP status 403, server response: forbidden"),
         "access", Consequence.GIVE_UP),
        # A code we do not know: retried until the deadline, never refused for good.
        (DatabaseError("Code: 2999. DB::Exception: something new. (SOMETHING_NEW)", code=2999),
         "other", Consequence.RETRY),
        (TimeoutError(), "timeout", Consequence.RETRY),
    ],
)
def test_server_and_transport_errors_are_classified(error: Exception, kind: str, consequence: Consequence) -> None:
    failure = classify(error)
    assert (failure.kind, failure.consequence) == (kind, consequence)


def test_only_the_engines_errors_count_as_storage_errors() -> None:
    assert not is_storage_error(ValueError("a bug of ours"))
    assert classify(ValueError("a bug of ours")).kind == "other"


def test_a_failure_that_needs_an_operator_says_so_without_storages_own_text() -> None:
    failure = classify(DatabaseError("Code: 516. DB::Exception: user_42: Authentication failed: password is"
                                     " incorrect. (AUTHENTICATION_FAILED)", code=516))
    answer = unavailable(failure, "these events")
    assert answer.message == (
        "storage cannot take these events (AUTHENTICATION_FAILED); an operator must fix storage, then send it again"
    )
    assert answer.retry_after_seconds is not None and answer.retry_after_seconds > 1


def test_refused_rows_become_an_event_field_only_when_storage_names_one() -> None:
    many = classify(RuntimeError("Code: 469. DB::Exception: Constraint `c` for table t is violated at row 1."
                                 " Expression: (quantity < 10). Column values: quantity = 11, subject = 'x'."
                                 " (VIOLATED_CONSTRAINT)"))
    assert refusal(many).field == ""
    one = classify(RuntimeError("Code: 469. DB::Exception: Constraint `c` for table t is violated at row 1."
                                " Expression: (quantity < 10). Column values: quantity = 11. (VIOLATED_CONSTRAINT)"))
    assert refusal(one).field == "quantity"
