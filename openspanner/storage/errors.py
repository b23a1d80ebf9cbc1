"""What a failed storage call means: retry it, split its block, or give up on it.

The one classification of storage errors. Every clickhouse-connect call
fails with an exception carrying ClickHouse's error code, whether a server
answered over HTTP (the `X-ClickHouse-Exception-Code` header, and
"Code: N. DB::Exception: ..." in the body) or the embedded engine chdb
raised it in this process (the same "Code: N" text, parsed by
clickhouse-connect into `Error.code`). The code says more than the exception
type, so it decides; the type decides only when there is no code
(`OperationalError`: the transport failed; `DataError`: clickhouse-connect
could not serialize a value of the block).

Each failure gets a `kind`, a short stable name used as a metric label, and
one of three consequences:

- retryable: storage is down, slow, full or busy (network, timeout,
  too_many_parts, memory, disk, overloaded, replication, interrupted). The
  same call may succeed later, unchanged.
- refused data (`splits`): the rows the call carried are refused
  (rejected_data: a constraint, a value the engine cannot take;
  block_too_large: too many partitions for one insert). Smaller blocks find
  the rows at fault; resending the same rows fails the same way.
- permanent, not the data's fault: schema (a table or column missing),
  access (credentials, grants, a read-only user), query (a statement the
  engine refuses: our bug). Neither retrying soon nor splitting helps; an
  operator or a release must.

An error that carries no known code and no telling type (kind "other") is
treated as retryable: a retry that fails again costs only time, and its
events end as RETRY, resent by their clients, whereas calling it permanent
could refuse events for good that storage would have taken a moment later.
Only a refusal the engine names is ever answered as the event's own error.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from enum import Enum

from clickhouse_connect.driver.exceptions import ClickHouseError, DataError, OperationalError

from openspanner.errors import OpenSpannerError, StorageRefused, Unavailable


class Consequence(Enum):
    RETRY = "retry"
    SPLIT = "split"
    GIVE_UP = "give_up"


# ClickHouse error codes (src/Common/ErrorCodes.cpp) by kind; names as the
# engine reports them, checked against the engine in tests/unit/storage/test_errors.py.
_RETRYABLE_CODES: dict[str, dict[int, str]] = {
    "network": {
        95: "CANNOT_READ_FROM_SOCKET",
        96: "CANNOT_WRITE_TO_SOCKET",
        198: "DNS_ERROR",
        203: "NO_FREE_CONNECTION",
        210: "NETWORK_ERROR",
        279: "ALL_CONNECTION_TRIES_FAILED",
        1000: "POCO_EXCEPTION",  # Poco's network errors (connection refused, reset) carry this
    },
    "timeout": {
        159: "TIMEOUT_EXCEEDED",
        160: "TOO_SLOW",
        209: "SOCKET_TIMEOUT",
    },
    "too_many_parts": {
        252: "TOO_MANY_PARTS",  # but see _BLOCK_TOO_LARGE_MESSAGE
    },
    "memory": {
        173: "CANNOT_ALLOCATE_MEMORY",
        241: "MEMORY_LIMIT_EXCEEDED",
        777: "MEMORY_RESERVATION_KILLED",
        778: "MEMORY_RESERVATION_FAILED",
        1020: "MEMORY_RESERVATION_ACQUISITION_TIMEOUT",
    },
    "disk": {
        75: "CANNOT_WRITE_TO_FILE_DESCRIPTOR",
        204: "CANNOT_FSYNC",
        243: "NOT_ENOUGH_SPACE",
        425: "SYSTEM_ERROR",
    },
    "overloaded": {
        201: "QUOTA_EXCEEDED",
        202: "TOO_MANY_SIMULTANEOUS_QUERIES",
        364: "RECEIVED_ERROR_TOO_MANY_REQUESTS",
        439: "CANNOT_SCHEDULE_TASK",
        745: "SERVER_OVERLOADED",
        749: "TCP_CONNECTION_LIMIT_REACHED",
        762: "HTTP_CONNECTION_LIMIT_REACHED",
        1019: "QUERY_SLOT_ACQUISITION_TIMEOUT",
    },
    "replication": {
        225: "NO_ZOOKEEPER",
        242: "TABLE_IS_READ_ONLY",  # a replica that lost Keeper
        244: "UNEXPECTED_ZOOKEEPER_ERROR",
        254: "NO_ACTIVE_REPLICAS",
        265: "NO_AVAILABLE_REPLICA",
        285: "TOO_FEW_LIVE_REPLICAS",
        286: "UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE",
        289: "REPLICA_IS_NOT_IN_QUORUM",
        # The insert may or may not have committed: the retry's duplicate
        # check (under the writer's lock, the filter caught up) decides.
        319: "UNKNOWN_STATUS_OF_INSERT",
        369: "ALL_REPLICAS_ARE_STALE",
        415: "ALL_REPLICAS_LOST",
        519: "NO_REMOTE_SHARD_AVAILABLE",
        733: "TABLE_IS_BEING_RESTARTED",
        999: "KEEPER_EXCEPTION",
    },
    "interrupted": {
        236: "ABORTED",
        384: "PART_IS_TEMPORARILY_LOCKED",
        394: "QUERY_WAS_CANCELLED",  # a server shutting down cancels its queries
        473: "DEADLOCK_AVOIDED",
        738: "PART_IS_LOCKED",
    },
}
_SPLIT_CODES: dict[str, dict[int, str]] = {
    "rejected_data": {
        6: "CANNOT_PARSE_TEXT",
        19: "SIZE_OF_FIXED_STRING_DOESNT_MATCH",
        27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
        38: "CANNOT_PARSE_DATE",
        41: "CANNOT_PARSE_DATETIME",
        53: "TYPE_MISMATCH",
        69: "ARGUMENT_OUT_OF_BOUND",
        70: "CANNOT_CONVERT_TYPE",
        72: "CANNOT_PARSE_NUMBER",
        117: "INCORRECT_DATA",
        128: "TOO_LARGE_ARRAY_SIZE",
        131: "TOO_LARGE_STRING_SIZE",
        321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        349: "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
        376: "CANNOT_PARSE_UUID",
        395: "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO",
        407: "DECIMAL_OVERFLOW",
        467: "CANNOT_PARSE_BOOL",
        469: "VIOLATED_CONSTRAINT",
        691: "UNKNOWN_ELEMENT_OF_ENUM",
        760: "UNICODE_ERROR",
    },
    "block_too_large": {
        565: "TOO_MANY_PARTITIONS",
    },
}
_GIVE_UP_CODES: dict[str, dict[int, str]] = {
    "schema": {
        7: "INCORRECT_NUMBER_OF_COLUMNS",
        8: "THERE_IS_NO_COLUMN",
        10: "NOT_FOUND_COLUMN_IN_BLOCK",
        16: "NO_SUCH_COLUMN_IN_TABLE",
        20: "NUMBER_OF_COLUMNS_DOESNT_MATCH",
        47: "UNKNOWN_IDENTIFIER",
        60: "UNKNOWN_TABLE",
        81: "UNKNOWN_DATABASE",
        218: "TABLE_IS_DROPPED",
        774: "TABLE_IS_PERMANENTLY_READ_ONLY",
    },
    "access": {
        164: "READONLY",
        192: "UNKNOWN_USER",
        193: "WRONG_PASSWORD",
        194: "REQUIRED_PASSWORD",
        195: "IP_ADDRESS_NOT_ALLOWED",
        291: "DATABASE_ACCESS_DENIED",
        497: "ACCESS_DENIED",
        516: "AUTHENTICATION_FAILED",
        720: "USER_EXPIRED",
    },
    "query": {
        1: "UNSUPPORTED_METHOD",
        42: "NUMBER_OF_ARGUMENTS_DOESNT_MATCH",
        43: "ILLEGAL_TYPE_OF_ARGUMENT",
        44: "ILLEGAL_COLUMN",
        46: "UNKNOWN_FUNCTION",
        48: "NOT_IMPLEMENTED",
        49: "LOGICAL_ERROR",
        62: "SYNTAX_ERROR",
        115: "UNKNOWN_SETTING",
        184: "ILLEGAL_AGGREGATION",
        215: "NOT_AN_AGGREGATE",
        344: "SUPPORT_IS_DISABLED",
        386: "NO_COMMON_TYPE",
        456: "UNKNOWN_QUERY_PARAMETER",
        457: "BAD_QUERY_PARAMETER",
    },
}
# Code 252 also refuses one block spanning more partitions than
# max_partitions_per_insert_block: smaller blocks pass.
_BLOCK_TOO_LARGE_MESSAGE = "Too many partitions for single INSERT block"


def _by_code(
    table: dict[str, dict[int, str]], consequence: Consequence
) -> dict[int, tuple[str, Consequence, str]]:
    return {code: (kind, consequence, name) for kind, codes in table.items() for code, name in codes.items()}


CLASS_OF_CODE: dict[int, tuple[str, Consequence, str]] = {
    **_by_code(_RETRYABLE_CODES, Consequence.RETRY),
    **_by_code(_SPLIT_CODES, Consequence.SPLIT),
    **_by_code(_GIVE_UP_CODES, Consequence.GIVE_UP),
}
# HTTP statuses of a server (or proxy) answering without a ClickHouse code.
_HTTP_STATUS_KINDS = {
    401: "access", 403: "access", 429: "overloaded", 502: "network", 503: "overloaded", 504: "timeout",
}

_CODE_IN_TEXT = re.compile(r"\bCode:\s*(\d+)")
_HTTP_STATUS_IN_TEXT = re.compile(r"HTTP status (\d{3})")
_EXCEPTION_PREFIX = re.compile(r"^.*?Code:\s*\d+\.\s*(?:DB::Exception:\s*)?", re.DOTALL)
# "... (VIOLATED_CONSTRAINT) (version 24.8.1.1 (official build)) (for url http://...)", each part optional.
_NAME_SUFFIX = re.compile(
    r"(?:\s*\([A-Z][A-Z0-9_]+\))?"
    r"(?:\s*\(version [^()]*(?:\([^()]*\))?\))?"
    r"(?:\s*\(for url [^)]*\))?\s*$"
)
# Noise of ClickHouse messages a client or a log reader has no use for.
_TABLE_UUID = re.compile(r"\s*\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)")
_AT_ROW = re.compile(r" at row \d+")
MAX_REASON_LENGTH = 300
# "Column values: subject = 'x', quantity = 2." in a refusal names the columns at fault.
_COLUMN_VALUES = re.compile(r"Column values: (.*)$")
_COLUMN_NAME = re.compile(r"(?:^|, )`?(\w+)`? = ")
# Columns of usage_events that are an event field of the same name.
_EVENT_FIELDS = frozenset({"meter", "subject", "timestamp", "idempotency_key", "quantity", "metadata"})
# The delay a client is told after a failure that needs an operator: long enough not to spin.
GIVE_UP_RETRY_AFTER_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class StorageFailure:
    """What one failed storage call means."""

    kind: str
    consequence: Consequence
    # ClickHouse's error code and name, when the failure carries one.
    code: int | None
    name: str
    # One line of what storage said, without its stack trace or version.
    reason: str

    @property
    def retryable(self) -> bool:
        return self.consequence is Consequence.RETRY

    @property
    def splits(self) -> bool:
        """The rows the call carried are refused: smaller blocks find the rows at fault."""
        return self.consequence is Consequence.SPLIT


def is_storage_error(error: BaseException) -> bool:
    """Whether `error` came from storage (clickhouse-connect or the engine), not from our own code."""
    return isinstance(error, ClickHouseError) or _code_in_text(str(error)) is not None


def classify(error: BaseException) -> StorageFailure:
    """The meaning of an exception raised by a storage call (see the module docstring)."""
    text = str(error)
    reason = _reason(text) or type(error).__name__
    code = getattr(error, "code", None) if isinstance(error, ClickHouseError) else None
    if not isinstance(code, int):
        code = _code_in_text(text)
    if code is not None:
        kind, consequence, name = CLASS_OF_CODE.get(code, ("other", Consequence.RETRY, ""))
        if code == 252 and _BLOCK_TOO_LARGE_MESSAGE in text:
            kind, consequence = "block_too_large", Consequence.SPLIT
        name = name or str(getattr(error, "name", None) or "")
        return StorageFailure(kind, consequence, code, name, reason)
    if isinstance(error, DataError):
        # clickhouse-connect refused to serialize a value of the block.
        return StorageFailure("rejected_data", Consequence.SPLIT, None, "", reason)
    if isinstance(error, ClickHouseError) and (status := _HTTP_STATUS_IN_TEXT.search(text)):
        kind = _HTTP_STATUS_KINDS.get(int(status.group(1)), "other")
        consequence = Consequence.GIVE_UP if kind == "access" else Consequence.RETRY
        return StorageFailure(kind, consequence, None, "", reason)
    if isinstance(error, OperationalError | ConnectionError):
        return StorageFailure("network", Consequence.RETRY, None, "", reason)
    if isinstance(error, TimeoutError):
        return StorageFailure("timeout", Consequence.RETRY, None, "", reason)
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFailure("disk", Consequence.RETRY, None, "", reason)
    return StorageFailure("other", Consequence.RETRY, None, "", reason)


def _code_in_text(text: str) -> int | None:
    match = _CODE_IN_TEXT.search(text)
    return int(match.group(1)) if match else None


def _reason(text: str) -> str:
    """ClickHouse's message without "Code: N. DB::Exception:", its name, version, stack trace or table UUIDs."""
    first = _EXCEPTION_PREFIX.sub("", text.strip(), count=1).split("\n", 1)[0]
    first = _TABLE_UUID.sub("", _AT_ROW.sub("", _NAME_SUFFIX.sub("", first)))
    first = first.strip()
    return first if len(first) <= MAX_REASON_LENGTH else first[: MAX_REASON_LENGTH - 3] + "..."


def refusal(failure: StorageFailure, what: str = "this event") -> StorageRefused:
    """The answer to rows storage refused: what it said, and the event field it names if it names one."""
    label = f" ({failure.name})" if failure.name else ""
    return StorageRefused(f"storage refused {what}{label}: {failure.reason}", field=_refused_field(failure.reason))


def unavailable(failure: StorageFailure, what: str = "this call") -> Unavailable:
    """The answer to a failure that is not the data's fault: retry later; for one that needs
    an operator (schema, access, query), later still, and saying so.

    Only the kind and error name reach the client: storage's own text may hold hosts and users.
    """
    label = failure.name or failure.kind
    if failure.retryable:
        return Unavailable(f"storage is unavailable ({label}); send {what} again later", retry_after_seconds=1.0)
    return Unavailable(
        f"storage cannot take {what} ({label}); an operator must fix storage, then send it again",
        retry_after_seconds=GIVE_UP_RETRY_AFTER_SECONDS,
    )


def client_error(failure: StorageFailure) -> OpenSpannerError | None:
    """The typed error a storage failure outside ingest is answered with; None for a query the
    engine refuses (our bug: answered INTERNAL, with its traceback logged)."""
    if failure.splits:
        return refusal(failure, "this request")
    if failure.kind == "query":
        return None
    return unavailable(failure)


def _refused_field(reason: str) -> str:
    values = _COLUMN_VALUES.search(reason)
    if values is None:
        return ""
    columns = set(_COLUMN_NAME.findall(values.group(1)))
    return next(iter(columns)) if len(columns) == 1 and columns <= _EVENT_FIELDS else ""
