"""The ClickHouse schema, as versioned migrations applied at start-up.

Why the tables look as they do is written down in docs/storage.md. Each
migration is applied once, in order, and recorded in schema_migrations;
statements are idempotent (IF NOT EXISTS) so that servers starting together
against one ClickHouse cannot break each other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from openspanner.logging import get_logger

log = get_logger(__name__)

EVENTS_TABLE = "usage_events"
EVENT_IDENTITIES_TABLE = "event_identities"
IDEMPOTENCY_KEYS_TABLE = "idempotency_keys"
METERS_TABLE = "meters"
API_KEYS_TABLE = "api_keys"
BULK_REQUESTS_TABLE = "bulk_requests"
MIGRATIONS_TABLE = "schema_migrations"
# Hourly pre-aggregates of usage_events (docs/storage.md, "Rollups"), and the
# hours they cover.
ROLLUP_HOURS_TABLE = "usage_rollup_hours"
ROLLUP_TOTALS_TABLE = "usage_rollup_totals"
ROLLUP_SUBJECTS_TABLE = "usage_rollup_subjects"
ROLLUP_DIMENSIONS_TABLE = "usage_rollup_dimensions"

# Placeholders in the statements below, filled by `render`: on a cluster,
# every table is created on all its replicas and replicated by ClickHouse.
ON_CLUSTER = "<on_cluster>"
REPLICATED = "<replicated>"

# See migration 2.
MERGE_SELECTOR_BASE = 20
# See migration 6: parts smaller than this (uncompressed) are written as one file.
PACKED_PART_MAX_BYTES = 10 * 1024 * 1024
# Rollup rows outlive any meter's retention (at most 3,650 days): queries read
# raw events for hours past the meter's retention, so the rollup's own TTL is
# only housekeeping.
ROLLUP_TTL_DAYS = 3660
# The aggregates of one group of events, as every rollup table stores them:
# enough to answer each aggregation, and to combine with raw events.
_ROLLUP_VALUES = """
                events UInt64,
                total Float64,
                low Float64,
                high Float64,
                first_quantity Float64,
                first_at DateTime64(6, 'UTC'),
                first_key String,
                last_quantity Float64,
                last_at DateTime64(6, 'UTC'),
                last_key String,
                built_as_of DateTime64(3, 'UTC')"""
# The key table of migrations 1 and 2, replaced by EVENT_IDENTITIES_TABLE in 3 and dropped in 4.
_EVENT_KEYS_TABLE = "event_keys"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    # A MergeTree setting the statements set, for speed only. An engine
    # without it, or refusing it (a ClickHouse server older than the
    # embedded one, where it was reserved to ClickHouse Cloud), skips the
    # migration without recording it: the server starts as before, and the
    # migration is applied once that ClickHouse is upgraded.
    optional_merge_tree_setting: str | None = None


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "meters, usage events, api keys, bulk requests",
        (
            # One row per meter version; the highest version wins and
            # `deleted` = 1 hides the meter (ReplacingMergeTree is_deleted).
            f"""
            CREATE TABLE IF NOT EXISTS {METERS_TABLE} {ON_CLUSTER} (
                name String,
                definition String,
                version UInt64,
                deleted UInt8
            ) ENGINE = {REPLICATED}ReplacingMergeTree(version, deleted)
            ORDER BY name
            """,
            # Sorted for the questions asked of it: one meter, one subject, a
            # time range. The idempotency key ends the sorting key so that
            # copies of one event (servers racing on a key) collapse under
            # FINAL and merges: copies agree on meter, subject and the hour
            # of their timestamp (see docs/storage.md for the one exception).
            f"""
            CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} {ON_CLUSTER} (
                meter LowCardinality(String),
                subject String,
                timestamp DateTime64(6, 'UTC'),
                idempotency_key String,
                quantity Float64,
                metadata Map(LowCardinality(String), String),
                ingested_at DateTime64(6, 'UTC'),
                retention_days UInt16
            ) ENGINE = {REPLICATED}ReplacingMergeTree
            PARTITION BY toYYYYMM(timestamp)
            ORDER BY (meter, subject, toStartOfHour(timestamp), idempotency_key)
            TTL toDateTime(timestamp) + toIntervalDay(retention_days)
            """,
            # Every stored key, sorted by its 64-bit hash: "are these keys
            # stored?" is a look-up by integers, which the writer can send
            # without escaping thousands of strings. The key itself ends the
            # sorting key, so two keys sharing a hash never collapse. The view
            # fills the table inside the same INSERT as the event, so an event
            # is never stored without its key or the other way round.
            f"""
            CREATE TABLE IF NOT EXISTS {_EVENT_KEYS_TABLE} {ON_CLUSTER} (
                meter LowCardinality(String),
                key_hash UInt64,
                idempotency_key String,
                timestamp DateTime64(6, 'UTC'),
                retention_days UInt16
            ) ENGINE = {REPLICATED}ReplacingMergeTree
            ORDER BY (meter, key_hash, idempotency_key)
            TTL toDateTime(timestamp) + toIntervalDay(retention_days)
            """,
            f"""
            CREATE MATERIALIZED VIEW IF NOT EXISTS {_EVENT_KEYS_TABLE}_mv {ON_CLUSTER} TO {_EVENT_KEYS_TABLE}
            AS SELECT meter, xxHash64(idempotency_key) AS key_hash, idempotency_key, timestamp, retention_days
            FROM {EVENTS_TABLE}
            """,
            f"""
            CREATE TABLE IF NOT EXISTS {API_KEYS_TABLE} {ON_CLUSTER} (
                id String,
                name String,
                scope LowCardinality(String),
                secret_sha256 String,
                create_time DateTime64(3, 'UTC'),
                revoke_time Nullable(DateTime64(3, 'UTC')),
                version UInt64
            ) ENGINE = {REPLICATED}ReplacingMergeTree(version)
            ORDER BY id
            """,
            # First answer of each keyed bulk call, replayed on repeats.
            f"""
            CREATE TABLE IF NOT EXISTS {BULK_REQUESTS_TABLE} {ON_CLUSTER} (
                idempotency_key String,
                request_sha256 String,
                response String,
                create_time DateTime64(3, 'UTC'),
                expire_time DateTime('UTC')
            ) ENGINE = {REPLICATED}ReplacingMergeTree(create_time)
            ORDER BY idempotency_key
            TTL expire_time
            """,
        ),
    ),
    Migration(
        2,
        "fewer, wider merges of small event parts",
        # Streams insert a part every linger interval (several per second at
        # a steady rate). With the default base (5) each row was rewritten
        # ~9 times by merges, which took as much CPU as the ingest itself;
        # at 20 it is rewritten ~2-3 times, for a few more parts between
        # merges (docs/storage.md, "Parts, merges and look-ups").
        tuple(
            f"ALTER TABLE {table} {ON_CLUSTER} MODIFY SETTING merge_selector_base = {MERGE_SELECTOR_BASE}"
            for table in (EVENTS_TABLE, _EVENT_KEYS_TABLE)
        ),
    ),
    Migration(
        3,
        "an event's identity includes the timestamp its client sent; key look-ups local in time",
        (
            # client_time_us: the timestamp the client sent (microseconds), 0
            # if it sent none. Copies of one event agree on it, distinct events
            # reusing a key at another time do not. A column added in the same
            # ALTER may end the sorting key: old parts read it as 0, which
            # keeps them sorted.
            f"""
            ALTER TABLE {EVENTS_TABLE} {ON_CLUSTER}
                ADD COLUMN IF NOT EXISTS client_time_us Int64,
                MODIFY ORDER BY (meter, subject, toStartOfHour(timestamp), idempotency_key, client_time_us)
            """,
            # Sorted by the client's time first: a batch's keys were sent for
            # nearby times, so a look-up reads the few granules of those times
            # instead of one granule per key over the whole history
            # (docs/storage.md, "Parts, merges and look-ups"). Events sent
            # without a timestamp all share client_time_us 0 and are found by
            # their hash, as before.
            f"""
            CREATE TABLE IF NOT EXISTS {EVENT_IDENTITIES_TABLE} {ON_CLUSTER} (
                meter LowCardinality(String),
                client_time_us Int64,
                key_hash UInt64,
                idempotency_key String,
                timestamp DateTime64(6, 'UTC'),
                retention_days UInt16
            ) ENGINE = {REPLICATED}ReplacingMergeTree
            ORDER BY (meter, client_time_us, key_hash, idempotency_key)
            TTL toDateTime(timestamp) + toIntervalDay(retention_days)
            SETTINGS merge_selector_base = {MERGE_SELECTOR_BASE}
            """,
            f"""
            CREATE MATERIALIZED VIEW IF NOT EXISTS {EVENT_IDENTITIES_TABLE}_mv {ON_CLUSTER} TO {EVENT_IDENTITIES_TABLE}
            AS SELECT meter, client_time_us, xxHash64(idempotency_key) AS key_hash, idempotency_key,
                timestamp, retention_days
            FROM {EVENTS_TABLE}
            """,
            f"DROP VIEW IF EXISTS {_EVENT_KEYS_TABLE}_mv {ON_CLUSTER}",
            # Keys stored before this migration: whether their client sent a
            # timestamp is not known, so each is entered both ways and a retry
            # is recognised either way. Keys written while both views ran are
            # copied again and collapse with their copy.
            f"""
            INSERT INTO {EVENT_IDENTITIES_TABLE}
            SELECT meter, arrayJoin([0, toUnixTimestamp64Micro(timestamp)]) AS client_time_us,
                key_hash, idempotency_key, timestamp, retention_days
            FROM {_EVENT_KEYS_TABLE}
            """,
        ),
    ),
    # Its own migration: were it the last statement of 3, a server stopped
    # between it and the record of 3 would find no table to copy from.
    Migration(4, "drop the key table migration 3 copied", (f"DROP TABLE IF EXISTS {_EVENT_KEYS_TABLE} {ON_CLUSTER}",)),
    Migration(
        5,
        "an idempotency key identifies its event within the meter, whatever its timestamp",
        (
            # Every stored key once, sorted by its hash: "is this key stored?"
            # is a point look-up. Keys are read only for the few keys the
            # server's filter cannot rule out (docs/storage.md, "Exactly
            # once"), so granules and compressed blocks are small: a look-up
            # reads one granule of 256 rows per key, not 8,192 of them.
            # subject and timestamp say where the stored event sits in
            # usage_events, for the answer to a duplicate.
            f"""
            CREATE TABLE IF NOT EXISTS {IDEMPOTENCY_KEYS_TABLE} {ON_CLUSTER} (
                meter LowCardinality(String),
                key_hash UInt64,
                idempotency_key String,
                subject String,
                timestamp DateTime64(6, 'UTC'),
                retention_days UInt16
            ) ENGINE = {REPLICATED}ReplacingMergeTree
            PRIMARY KEY (meter, key_hash)
            ORDER BY (meter, key_hash, idempotency_key)
            TTL toDateTime(timestamp) + toIntervalDay(retention_days)
            SETTINGS index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 16384,
                merge_selector_base = {MERGE_SELECTOR_BASE}
            """,
            f"""
            CREATE MATERIALIZED VIEW IF NOT EXISTS {IDEMPOTENCY_KEYS_TABLE}_mv {ON_CLUSTER} TO {IDEMPOTENCY_KEYS_TABLE}
            AS SELECT meter, xxHash64(idempotency_key) AS key_hash, idempotency_key, subject, timestamp, retention_days
            FROM {EVENTS_TABLE}
            """,
            # The keys stored so far. Events written while this runs are copied
            # twice and collapse with their copy; a key stored twice before (with
            # two timestamps, two events then) is one key from now on.
            f"""
            INSERT INTO {IDEMPOTENCY_KEYS_TABLE}
            SELECT meter, xxHash64(idempotency_key), idempotency_key, subject, timestamp, retention_days
            FROM {EVENTS_TABLE}
            """,
        ),
    ),
    Migration(
        6,
        "small parts of the event tables written as one file",
        # Every insert writes a part in each of the three event tables, and a
        # part stored the usual way is ~12 files: creating them was most of
        # the CPU of a small insert (60% in the kernel's ext4 inode
        # allocation). Stored "packed", a part's files go into one archive:
        # a 64-event insert took half the CPU and wall time, and the unary
        # write paths insert blocks of that size. Parts merged past this size
        # are stored as usual. Only the layout on disk changes, not the rows,
        # so reads, merges, FINAL and the exactly-once look-ups see the same
        # data (docs/storage.md, "Parts, merges and look-ups").
        tuple(
            f"ALTER TABLE {table} {ON_CLUSTER} MODIFY SETTING min_bytes_for_full_part_storage = {PACKED_PART_MAX_BYTES}"
            for table in (EVENTS_TABLE, EVENT_IDENTITIES_TABLE, IDEMPOTENCY_KEYS_TABLE)
        ),
        optional_merge_tree_setting="min_bytes_for_full_part_storage",
    ),
    Migration(
        10,
        "hourly rollups of usage events, built from settled hours",
        (
            # Per meter and UTC hour: marks (marked_at: the writer is about
            # to insert events of the hour after it had ended) and builds
            # (built_as_of: up to when a build of the hour's rollups saw every
            # insert), one row each, 0 in the other column. An hour is read
            # from the rollups only when its newest build is not older than
            # its newest mark. No view marks them: a view costs every insert
            # (~3 ms of CPU for a 64-event block), and live events need none.
            f"""
            CREATE TABLE IF NOT EXISTS {ROLLUP_HOURS_TABLE} {ON_CLUSTER} (
                meter LowCardinality(String),
                hour DateTime('UTC'),
                marked_at DateTime64(3, 'UTC'),
                built_as_of DateTime64(3, 'UTC')
            ) ENGINE = {REPLICATED}ReplacingMergeTree
            ORDER BY (meter, hour, marked_at, built_as_of)
            TTL hour + toIntervalDay({ROLLUP_TTL_DAYS})
            """,
            # Each build of an hour writes every group of the hour again with
            # a higher built_as_of; a query reads only the rows of the hour's
            # latest build (docs/storage.md, "Rollups").
            f"""
            CREATE TABLE IF NOT EXISTS {ROLLUP_TOTALS_TABLE} {ON_CLUSTER} (
                meter LowCardinality(String),
                hour DateTime('UTC'),{_ROLLUP_VALUES}
            ) ENGINE = {REPLICATED}ReplacingMergeTree(built_as_of)
            PARTITION BY toYYYYMM(hour)
            ORDER BY (meter, hour)
            TTL hour + toIntervalDay({ROLLUP_TTL_DAYS})
            """,
            f"""
            CREATE TABLE IF NOT EXISTS {ROLLUP_SUBJECTS_TABLE} {ON_CLUSTER} (
                meter LowCardinality(String),
                hour DateTime('UTC'),
                subject String,{_ROLLUP_VALUES}
            ) ENGINE = {REPLICATED}ReplacingMergeTree(built_as_of)
            PARTITION BY toYYYYMM(hour)
            ORDER BY (meter, subject, hour)
            TTL hour + toIntervalDay({ROLLUP_TTL_DAYS})
            """,
            f"""
            CREATE TABLE IF NOT EXISTS {ROLLUP_DIMENSIONS_TABLE} {ON_CLUSTER} (
                meter LowCardinality(String),
                hour DateTime('UTC'),
                metadata Map(LowCardinality(String), String),{_ROLLUP_VALUES}
            ) ENGINE = {REPLICATED}ReplacingMergeTree(built_as_of)
            PARTITION BY toYYYYMM(hour)
            ORDER BY (meter, hour, mapKeys(metadata), mapValues(metadata))
            TTL hour + toIntervalDay({ROLLUP_TTL_DAYS})
            """,
        ),
    ),
)


def render(statement: str, cluster: str | None) -> str:
    """A statement for one server (cluster None) or for every replica of `cluster`.

    Replicated tables take ClickHouse's default replica path and name
    (`default_replica_path`, `default_replica_name`: per-table UUID, {shard}
    and {replica} macros), so the cluster's own configuration decides them.
    """
    if cluster is None:
        return statement.replace(f" {ON_CLUSTER}", "").replace(REPLICATED, "")
    quoted = "`" + cluster.replace("`", "``") + "`"
    return statement.replace(ON_CLUSTER, f"ON CLUSTER {quoted}").replace(REPLICATED, "Replicated")


MIGRATIONS_TABLE_DDL = f"""
    CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} {ON_CLUSTER} (
        version UInt32,
        name String,
        applied_at DateTime64(3, 'UTC')
    ) ENGINE = {REPLICATED}ReplacingMergeTree ORDER BY version
    """


def migrate(client: Client, cluster: str | None = None) -> list[int]:
    """Apply the migrations this database lacks; return the versions applied.

    With `cluster`, tables are created ON CLUSTER with Replicated engines, so
    every replica has them and ClickHouse copies the data between replicas.
    """
    client.command(render(MIGRATIONS_TABLE_DDL, cluster))
    applied = {row[0] for row in client.query(f"SELECT version FROM {MIGRATIONS_TABLE}").result_rows}
    newly_applied = []
    for migration in MIGRATIONS:
        if migration.version in applied:
            continue
        if migration.optional_merge_tree_setting:
            if not _applied_optional(client, migration, cluster):
                continue
        else:
            for statement in migration.statements:
                client.command(render(statement, cluster))
        client.insert(
            MIGRATIONS_TABLE,
            [[migration.version, migration.name, int(time.time() * 1000)]],
            column_names=["version", "name", "applied_at"],
            column_type_names=["UInt32", "String", "DateTime64(3, 'UTC')"],
        )
        log.info("schema migration applied", version=migration.version, name=migration.name, cluster=cluster)
        newly_applied.append(migration.version)
    return newly_applied


def _applied_optional(client: Client, migration: Migration, cluster: str | None) -> bool:
    """Apply a migration that only sets a MergeTree setting; False (logged) if this ClickHouse lacks or refuses it.

    Its statements only change settings, so stopping midway leaves nothing half-done that matters.
    """
    setting = migration.optional_merge_tree_setting
    assert setting is not None
    try:
        if _has_merge_tree_setting(client, setting):
            for statement in migration.statements:
                client.command(render(statement, cluster))
            return True
        reason = "this ClickHouse has no such setting"
    except DatabaseError as error:
        reason = str(error).splitlines()[0][:300]
    log.warning(
        "optional schema migration skipped; it is tried again at the next start",
        version=migration.version,
        name=migration.name,
        setting=setting,
        reason=reason,
    )
    return False


def _has_merge_tree_setting(client: Client, name: str) -> bool:
    rows = client.query(
        "SELECT count() FROM system.merge_tree_settings WHERE name = {name:String}", parameters={"name": name}
    ).result_rows
    return bool(rows[0][0])
