"""The retry schedule and the job's next state after an attempt."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from openspanner.webhooks.delivery import DeliverySettings, next_state
from openspanner.webhooks.model import EPOCH, DeliveryJob, JobStatus, backoff_seconds, job_id_of
from openspanner.webhooks.sender import SendResult

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SETTINGS = DeliverySettings(retry_seconds=30, max_attempts=5)
FAILED = SendResult(500, "webhook returned status 500", 12)
DELIVERED = SendResult(204, "", 8)


def job(attempts: int = 0, retry_base: int = 0) -> DeliveryJob:
    return DeliveryJob(
        id="j", event_kind="alert", event_id="e", destination_id="d", body=b"{}", status=JobStatus.RUNNING,
        attempts=attempts, retry_base=retry_base, next_attempt_at=NOW, lease_until=NOW + timedelta(seconds=30),
        last_status_code=0, last_error="", created_at=NOW, updated_at=NOW,
    )


def test_backoff_doubles_from_the_first_delay_up_to_an_hour() -> None:
    assert [backoff_seconds(n, 30) for n in range(1, 10)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff_seconds(1000, 30) == 3600


def test_a_failed_attempt_waits_its_backoff_then_the_last_allowed_one_is_a_dead_letter() -> None:
    waits = []
    current = job()
    while True:
        current = next_state(replace(current, status=JobStatus.RUNNING), FAILED, SETTINGS, NOW)
        if current.status is JobStatus.DEAD_LETTER:
            break
        assert current.status is JobStatus.PENDING
        waits.append((current.next_attempt_at - NOW).total_seconds())
    assert waits == [30, 60, 120, 240]
    assert current.attempts == 5
    assert (current.last_status_code, current.last_error, current.lease_until) == (500, FAILED.error, EPOCH)


def test_a_2xx_is_delivered() -> None:
    done = next_state(job(attempts=2), DELIVERED, SETTINGS, NOW)
    assert (done.status, done.attempts, done.last_status_code, done.last_error) == (JobStatus.DELIVERED, 3, 204, "")


def test_a_manual_retry_gives_a_fresh_allowance_counted_from_its_base() -> None:
    retried = job(attempts=5, retry_base=5)
    after_one = next_state(retried, FAILED, SETTINGS, NOW)
    assert after_one.status is JobStatus.PENDING
    assert (after_one.next_attempt_at - NOW).total_seconds() == 30  # the schedule starts over
    assert next_state(job(attempts=9, retry_base=5), FAILED, SETTINGS, NOW).status is JobStatus.DEAD_LETTER


def test_one_event_and_destination_is_one_job_id() -> None:
    assert job_id_of("alert", "e1", "d1") == job_id_of("alert", "e1", "d1")
    assert len({job_id_of("alert", "e1", "d1"), job_id_of("alert", "e1", "d2"), job_id_of("test", "e1", "d1")}) == 3
