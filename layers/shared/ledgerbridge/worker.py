"""SQS glue for the transfer worker: idempotency per message, backoff via visibility timeout,
and the dead-letter hand-off on the last attempt."""
from __future__ import annotations

import math
import random
import re
import time
import uuid
from functools import lru_cache
from typing import Any, Callable

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from pydantic import Json, ValidationError

from . import aws
from .models.documents import ConnectionDueJob, RunJob, TransferJob
from .models.sync import SyncJob
from .services.booking import RetryLater, book_document
from .settings import get_settings
from .models.common import LazyModel

logger = Logger(child=True)

Job = TransferJob | RunJob | ConnectionDueJob | SyncJob


class SqsAttributes(LazyModel):
    ApproximateReceiveCount: str


class TransferJobRecord(LazyModel):
    """An SQS record of the worker's event, with the fields the worker reads.

    Our own model rather than Powertools' ``SqsRecordModel``: importing that one loads every parser
    event model (API Gateway, S3, Kinesis, ...), tens of milliseconds of cold start for nothing.
    Powertools' BatchProcessor needs only ``model_validate`` and ``messageId`` (for the partial
    failure report). Other record fields are ignored.
    """

    messageId: str
    receiptHandle: str
    # A booking (one document), a run over a connection's companies (import, balance refresh), or
    # a connection the scheduler found due (expanded into the former two), or master-data sync work.
    body: Json[Job]
    attributes: SqsAttributes

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> "TransferJobRecord":
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            # A record that is not a job fails before process_record runs: logged here, once, with
            # where it is malformed (locations and error types, never the values it carries).
            message_id = obj.get("messageId") if isinstance(obj, dict) else None
            logger.thread_safe_remove_keys(list(JOB_LOG_KEYS))  # not the previous record's job
            logger.warning("transfer job failed: malformed record", extra={
                "message_id": message_id, "outcome": "malformed",
                "reason": "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}"
                                    for e in exc.errors(include_url=False, include_input=False))[:500]})
            raise


idempotency_config = IdempotencyConfig(
    event_key_jmespath="job_id",
    # Long enough to cover SQS redeliveries of one message; a new job for the same document
    # has a new job_id and is decided by the document's state, not by this cache.
    expires_after_seconds=6 * 3600,
    raise_on_no_idempotency_key=True,
)


@lru_cache(maxsize=1)
def _persistence():
    # Built on first use, not at import: it creates a boto3 client.
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    settings = get_settings()
    return DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=aws.client("dynamodb"))


@lru_cache(maxsize=2)
def _idempotent_booker(final_attempt: bool) -> Callable[..., dict]:
    def book(job: dict, deadline_ms: int, attempt: int) -> dict:
        retry_delay = lambda hint: backoff_seconds(attempt, hint)  # noqa: E731
        if job.get("type") == "connection_due":
            from .services.transfers import plan_due  # deferred: only scheduled runs need it

            return plan_due(ConnectionDueJob.model_validate(job))
        if job.get("type") == "record_sync":
            from .services import master_data  # deferred: only connections that sync customers need it

            return master_data.execute(SyncJob.model_validate(job))
        if "run_id" in job:
            from .services import runs  # deferred: booking workers never load it

            return runs.execute(RunJob.model_validate(job), deadline_ms=deadline_ms, final_attempt=final_attempt,
                                retry_delay=retry_delay)
        return book_document(TransferJob.model_validate(job), deadline_ms=deadline_ms, final_attempt=final_attempt,
                             attempt=attempt, retry_delay=retry_delay)

    return idempotent_function(data_keyword_argument="job", persistence_store=_persistence(),
                               config=idempotency_config)(book)


def backoff_seconds(receive_count: int, hint: float | None) -> int:
    settings = get_settings()
    exponential = settings.backoff_base_seconds * (2 ** max(receive_count - 1, 0))
    delay = max(hint or 0, exponential * (0.75 + random.random() / 2))
    # Rounded up: a hint of 0.4 s must not become an immediate redelivery.
    return math.ceil(min(delay, settings.backoff_max_seconds, 43_200))


JOB_LOG_KEYS = ("job_id", "tenant_id", "connection_id", "document_id", "version", "due_at")


def _job_keys(job: Job) -> dict[str, Any]:
    """What a log line needs to name the job: its kind, id, tenant, connection and document/run."""
    keys: dict[str, Any] = {"job_id": job.job_id, "tenant_id": job.tenant_id, "connection_id": job.connection_id}
    if isinstance(job, TransferJob):
        keys.update(job_kind="document", document_id=job.document_id, version=job.version)
    elif isinstance(job, RunJob):
        keys.update(job_kind=job.kind, document_id=job.run_id)
    elif isinstance(job, SyncJob):
        keys.update(job_kind=f"sync_{job.action}")
    else:
        keys.update(job_kind="connection_due", due_at=job.due_at.isoformat())
    return keys


# A URL's query string may carry a code or a token: never logged.
_QUERY = re.compile(r"(https?://[^\s'\"?]+)\?[^\s'\"]*")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RetryLater):
        return exc.reason
    text = _QUERY.sub(r"\1?…", str(exc))
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


def process_record(record: TransferJobRecord, lambda_context: Any) -> dict[str, Any]:
    """Work one record. A record that fails (the message goes back to SQS) is logged here once,
    with its job, document and reason: the batch processor only reports the message id."""
    job = record.body
    # Thread-safe keys: the local runtime runs several workers in one process. The previous
    # record's go first: a job without a document must not log the last one's.
    logger.thread_safe_remove_keys(list(JOB_LOG_KEYS))
    logger.thread_safe_append_keys(**{k: v for k, v in _job_keys(job).items() if k != "job_kind"})
    failure: dict[str, Any] = {}
    try:
        return _process(record, job, lambda_context, failure)
    except Exception as exc:
        # No traceback: its exception texts would be logged unfiltered (a URL with a code in it);
        # where it was raised is enough to find it.
        logger.warning("transfer job failed", extra={
            **_job_keys(job), "outcome": "failed", "reason": _reason(exc), "error": type(exc).__name__,
            "raised_at": _raised_at(exc), "receive_count": int(record.attributes.ApproximateReceiveCount),
            **failure})
        raise


def _raised_at(exc: BaseException) -> str | None:
    """file:line in function of the innermost frame that raised ``exc``."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"


def _process(record: TransferJobRecord, job: Job, lambda_context: Any, failure: dict[str, Any]) -> dict[str, Any]:
    receive_count = int(record.attributes.ApproximateReceiveCount)
    settings = get_settings()
    # Faults so far: this message's deliveries plus those of the messages it continues.
    attempt = job.prior_attempts + receive_count
    final_attempt = attempt >= settings.max_delivery_attempts
    failure.update(attempt=attempt, final_attempt=final_attempt)
    remaining_ms = lambda_context.get_remaining_time_in_millis()
    if remaining_ms < settings.min_time_to_start_booking_ms and not final_attempt:
        # Too little of this invocation is left to finish a booking: hand the message back
        # untouched rather than be cut off mid-booking by the Lambda timeout.
        _delay(record, 0)
        failure["retry_in_seconds"] = 0
        raise RetryLater("not started: the invocation was about to time out")
    try:
        deadline_ms = int(time.time() * 1000) + remaining_ms
        outcome = _idempotent_booker(final_attempt)(job=job.model_dump(mode="json"), deadline_ms=deadline_ms,
                                                    attempt=attempt)
    except IdempotencyAlreadyInProgressError:
        # The same message is being worked on by another invocation: come back later.
        failure["retry_in_seconds"] = delay = backoff_seconds(1, None)
        _delay(record, delay)
        raise
    except RetryLater as exc:
        if not exc.counts and _continue_later(job, prior_attempts=attempt - 1, delay=exc.delay):
            # A wait is no fault: it goes on as a new message (SQS counts every delivery of a
            # message, and the redrive policy would count waits as failures).
            logger.info("transfer waits", extra={"reason": exc.reason, "delay": exc.delay})
            return {"outcome": "waiting", "reason": exc.reason}
        if final_attempt and _dead_letter(job):
            logger.warning("transfer gave up; job sent to the dead-letter queue",
                           extra={"reason": exc.reason, "attempt": attempt})
            return {"outcome": "dead_lettered", "reason": exc.reason}
        # On the final attempt the message is released at once: SQS then moves it to the DLQ
        # on its next receive instead of after a full visibility timeout.
        failure["retry_in_seconds"] = delay = 0 if final_attempt else int(exc.delay or 0)
        _delay(record, delay)
        raise
    logger.info("transfer processed", extra=outcome)
    return outcome


# SQS's longest message delay; a longer wait is taken in steps (the job simply finds it must wait on).
MAX_MESSAGE_DELAY_SECONDS = 900


def _continue_later(job: Job, *, prior_attempts: int, delay: float | None) -> bool:
    """Queue the job again as a new message after ``delay``; False if SQS refused (then the old
    message is retried instead, which is safe, only it counts)."""
    follow_up = job.model_copy(update={"job_id": uuid.uuid4().hex, "trigger": "wait",
                                       "prior_attempts": prior_attempts})
    try:
        aws.client("sqs").send_message(
            QueueUrl=get_settings().transfer_queue_url, MessageBody=follow_up.model_dump_json(),
            DelaySeconds=min(math.ceil(delay or 0), MAX_MESSAGE_DELAY_SECONDS))
        return True
    except Exception:
        logger.exception("could not queue the job to continue later")
        return False


def _dead_letter(job: Job) -> bool:
    """Put a job that ran out of attempts on the dead-letter queue, its count reset for a redrive."""
    dlq_url = get_settings().transfer_dlq_url
    if not dlq_url:
        return False  # the redrive policy moves it on the next receive
    try:
        aws.client("sqs").send_message(QueueUrl=dlq_url,
                                       MessageBody=job.model_copy(update={"prior_attempts": 0}).model_dump_json())
        return True
    except Exception:
        logger.exception("could not send the job to the dead-letter queue")
        return False


def _delay(record: TransferJobRecord, seconds: int) -> None:
    """Back off by hiding the message for ``seconds``; SQS redelivers it after that."""
    try:
        aws.client("sqs").change_message_visibility(
            QueueUrl=get_settings().transfer_queue_url, ReceiptHandle=record.receiptHandle,
            VisibilityTimeout=seconds,
        )
    except Exception:  # the default visibility timeout still brings it back
        logger.exception("could not change message visibility")
