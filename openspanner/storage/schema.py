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
WEBHOOK_DESTINATIONS_TABLE = "webhook_destinations"
PLANS_TABLE = "plans"
PLAN_ASSIGNMENTS_TABLE = "plan_assignments"
CONSUMPTION_DECISIONS_TABLE = "consumption_decisions"
ENTITLEMENT_STATES_TABLE = "entitlement_states"
ENTITLEMENT_EVENTS_TABLE = "entitlement_events"
ENTITLEMENT_PERIODS_TABLE = "entitlement_periods"
DELIVERY_JOBS_TABLE = "webhook_delivery_jobs"
DELIVERY_ATTEMPTS_TABLE = "webhook_delivery_attempts"
ALERT_RULES_TABLE = "alert_rules"
ALERT_STATES_TABLE = "alert_states"
ALERT_EVENTS_TABLE = "alert_events"
ALERT_SCHEDULE_TABLE = "alert_schedule"
EXPORT_JOBS_TABLE = "export_jobs"
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
        7,
        "plans (versions with their limits) and subjects' plan assignments",
        (
            # One row per plan version; a version is written once with its limits
            # (one row, so a version never exists without them) and changed only to
            # retire or delete it: the highest row_version wins, deleted = 1 hides it.
            f"""
            CREATE TABLE IF NOT EXISTS {PLANS_TABLE} {ON_CLUSTER} (
                id String,
                name String,
                definition String,
                row_version UInt64,
                deleted UInt8
            ) ENGINE = {REPLICATED}ReplacingMergeTree(row_version, deleted)
            ORDER BY id
            """,
            # Every assignment a subject had (history): ending one or moving it to a
            # new plan version writes its row again with a higher row_version.
            f"""
            CREATE TABLE IF NOT EXISTS {PLAN_ASSIGNMENTS_TABLE} {ON_CLUSTER} (
                subject String,
                id String,
                plan_id String,
                assigned_at DateTime64(6, 'UTC'),
                period_anchor_at DateTime64(6, 'UTC'),
                unassigned_at Nullable(DateTime64(6, 'UTC')),
                updated_at DateTime64(6, 'UTC'),
                row_version UInt64
            ) ENGINE = {REPLICATED}ReplacingMergeTree(row_version)
            ORDER BY (subject, id)
            """,
        ),
    ),
    Migration(
        8,
        "consumption decisions, by idempotency key",
        (
            # The first decision of each consume key, replayed on repeats; the
            # filter columns of the decisions list are columns, the full answer JSON.
            f"""
            CREATE TABLE IF NOT EXISTS {CONSUMPTION_DECISIONS_TABLE} {ON_CLUSTER} (
                idempotency_key String,
                subject String,
                meter LowCardinality(String),
                accepted UInt8,
                evaluation_failed UInt8,
                enforcement LowCardinality(String),
                state LowCardinality(String),
                event_id String,
                quota String,
                created_at DateTime64(6, 'UTC')
            ) ENGINE = {REPLICATED}ReplacingMergeTree
            ORDER BY idempotency_key
            """,
        ),
    ),
    Migration(
        9,
        "entitlement states, their events and period snapshots",
        (
            f"""
            CREATE TABLE IF NOT EXISTS {ENTITLEMENT_STATES_TABLE} {ON_CLUSTER} (
                subject String,
                meter LowCardinality(String),
                plan_id String,
                plan_name String,
                period LowCardinality(String),
                state LowCardinality(String),
                current Float64,
                limit_value Float64,
                remaining Float64,
                warning_percent Float64,
                message String,
                evaluated_at DateTime64(6, 'UTC'),
                updated_at DateTime64(6, 'UTC')
            ) ENGINE = {REPLICATED}ReplacingMergeTree(evaluated_at)
            ORDER BY (subject, meter)
            """,
            f"""
            CREATE TABLE IF NOT EXISTS {ENTITLEMENT_EVENTS_TABLE} {ON_CLUSTER} (
                id String,
                subject String,
                meter LowCardinality(String),
                plan_id String,
                plan_name String,
                type LowCardinality(String),
                previous_state LowCardinality(String),
                state LowCardinality(String),
                current Float64,
                limit_value Float64,
                message String,
                created_at DateTime64(6, 'UTC')
            ) ENGINE = {REPLICATED}ReplacingMergeTree
            ORDER BY (created_at, id)
            """,
            # One row per (subject, meter, period, window): rewritten while the window
            # runs, its last row the closed window's snapshot.
            f"""
            CREATE TABLE IF NOT EXISTS {ENTITLEMENT_PERIODS_TABLE} {ON_CLUSTER} (
                subject String,
                meter LowCardinality(String),
                period LowCardinality(String),
                window_from DateTime64(6, 'UTC'),
                window_to DateTime64(6, 'UTC'),
                plan_id String,
                plan_name String,
                plan_version UInt32,
                state LowCardinality(String),
                current Float64,
                limit_value Float64,
                included Float64,
                overage Float64,
                remaining Float64,
                warning_percent Float64,
                event_count UInt64,
                updated_at DateTime64(6, 'UTC')
            ) ENGINE = {REPLICATED}ReplacingMergeTree(updated_at)
            ORDER BY (subject, meter, period, window_from)
            """,
        ),
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
    Migration(
        13,
        "webhook destinations",
        (
            # One row per version of a destination, as meters: the highest
            # version wins and `deleted` = 1 hides it. The signing secret is
            # stored as given (every attempt signs with it), so read access to
            # this table is access to the secrets.
            f"""
            CREATE TABLE IF NOT EXISTS {WEBHOOK_DESTINATIONS_TABLE} {ON_CLUSTER} (
                id String,
                name String,
                type LowCardinality(String),
                enabled UInt8,
                webhook_url String,
                secret String,
                event_types Array(LowCardinality(String)),
                created_at DateTime64(3, 'UTC'),
                updated_at DateTime64(3, 'UTC'),
                version UInt64,
                deleted UInt8
            ) ENGINE = {REPLICATED}ReplacingMergeTree(version, deleted)
            ORDER BY id
            """,
        ),
    ),
    Migration(
        14,
        "webhook delivery jobs and their attempts",
        (
            # The durable outbox (docs/webhooks.md). ClickHouse has no row
            # locks, so a job's state is a row per version: FINAL reads the
            # highest. The enqueue writes version 1, every later state a
            # nanosecond clock, so enqueueing the same event again never undoes
            # progress. The body is the exact bytes every attempt sends. Rows
            # expire 30 days after their last change: the newest version of a
            # job is always the last of its rows to go.
            f"""
            CREATE TABLE IF NOT EXISTS {DELIVERY_JOBS_TABLE} {ON_CLUSTER} (
                id String,
                event_kind LowCardinality(String),
                event_id String,
                destination_id String,
                body String,
                status LowCardinality(String),
                attempts UInt32,
                retry_base UInt32,
                next_attempt_at DateTime64(3, 'UTC'),
                lease_until DateTime64(3, 'UTC'),
                last_status_code UInt16,
                last_error String,
                created_at DateTime64(3, 'UTC'),
                updated_at DateTime64(3, 'UTC'),
                version UInt64
            ) ENGINE = {REPLICATED}ReplacingMergeTree(version)
            ORDER BY id
            TTL toDateTime(updated_at) + toIntervalDay(30)
            """,
            # The delivery log: one row per attempt, never changed (Replacing
            # only as every table here is: no two attempts share a key).
            f"""
            CREATE TABLE IF NOT EXISTS {DELIVERY_ATTEMPTS_TABLE} {ON_CLUSTER} (
                job_id String,
                attempt UInt32,
                event_id String,
                destination_id String,
                status LowCardinality(String),
                status_code UInt16,
                error String,
                duration_ms UInt32,
                attempted_at DateTime64(3, 'UTC')
            ) ENGINE = {REPLICATED}ReplacingMergeTree
            ORDER BY (job_id, attempted_at, attempt)
            TTL toDateTime(attempted_at) + toIntervalDay(30)
            """,
        ),
    ),
    Migration(
        16,
        "alert rules, their states per group, their events",
        (
            # One row per rule version, as meters: the highest version wins, `deleted` = 1 hides it.
            f"""
            CREATE TABLE IF NOT EXISTS {ALERT_RULES_TABLE} {ON_CLUSTER} (
                id String,
                definition String,
                version UInt64,
                deleted UInt8
            ) ENGINE = {REPLICATED}ReplacingMergeTree(version, deleted)
            ORDER BY id
            """,
            # The latest state of each group of a rule; a group the rule no longer has is deleted.
            # `settled` is the last status other than error (openspanner/alerts/machine.py).
            f"""
            CREATE TABLE IF NOT EXISTS {ALERT_STATES_TABLE} {ON_CLUSTER} (
                rule_id String,
                group_key String,
                group_value String,
                status LowCardinality(String),
                settled LowCardinality(String),
                value Float64,
                message String,
                evaluated_at DateTime64(3, 'UTC'),
                updated_at DateTime64(3, 'UTC'),
                version UInt64,
                deleted UInt8
            ) ENGINE = {REPLICATED}ReplacingMergeTree(version, deleted)
            ORDER BY (rule_id, group_key, group_value)
            """,
            # Written once, never changed: triggered, resolved, evaluation_failed.
            f"""
            CREATE TABLE IF NOT EXISTS {ALERT_EVENTS_TABLE} {ON_CLUSTER} (
                id String,
                rule_id String,
                group_key String,
                group_value String,
                type LowCardinality(String),
                value Float64,
                message String,
                created_at DateTime64(6, 'UTC')
            ) ENGINE = {REPLICATED}ReplacingMergeTree
            ORDER BY (created_at, id)
            """,
        ),
    ),
    Migration(
        17,
        "when each alert rule is evaluated next",
        # Apart from the rule's row, so the worker moving a rule's next evaluation never
        # overwrites a change a user made to the rule at the same moment.
        (
            f"""
            CREATE TABLE IF NOT EXISTS {ALERT_SCHEDULE_TABLE} {ON_CLUSTER} (
                rule_id String,
                next_evaluate_at DateTime64(3, 'UTC'),
                version UInt64
            ) ENGINE = {REPLICATED}ReplacingMergeTree(version)
            ORDER BY rule_id
            """,
        ),
    ),
    Migration(
        19,
        "export jobs",
        (
            # One row per state change of a job, as the delivery outbox:
            # FINAL reads the highest version, which packs the job's run,
            # the rank of its state and the time (exports/model.py), so a
            # user's cancel is never undone by a worker's late progress row.
            # The artifact lives in the export directory, not here. Rows
            # expire 30 days after their last change.
            f"""
            CREATE TABLE IF NOT EXISTS {EXPORT_JOBS_TABLE} {ON_CLUSTER} (
                id String,
                kind LowCardinality(String),
                format LowCardinality(String),
                gzip UInt8,
                query String,
                status LowCardinality(String),
                run UInt32,
                attempts UInt32,
                lease_until DateTime64(3, 'UTC'),
                rows_written UInt64,
                artifact String,
                artifact_size UInt64,
                error String,
                created_at DateTime64(3, 'UTC'),
                updated_at DateTime64(3, 'UTC'),
                completed_at Nullable(DateTime64(3, 'UTC')),
                as_of_us Int64,
                version UInt64
            ) ENGINE = {REPLICATED}ReplacingMergeTree(version)
            ORDER BY id
            TTL toDateTime(updated_at) + toIntervalDay(30)
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
