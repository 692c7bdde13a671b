"""Transfer worker: books each queued document; failures are reported per message."""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgerbridge.tracing import function_tracer
from ledgerbridge.worker import TransferJobRecord, idempotency_config, process_record

logger = Logger()
# botocore patched now, httpx when a vendor call first imports it (see ledgerbridge.tracing).
tracer = function_tracer()
metrics = Metrics()
# A batch whose every record failed is still a partial-failure response, not an invocation
# error: each record already set its own backoff, which a whole-batch retry would ignore.
processor = BatchProcessor(event_type=EventType.SQS, model=TransferJobRecord, raise_on_entire_batch_failure=False)


def record_handler(record: TransferJobRecord, lambda_context: LambdaContext) -> dict:
    outcome = process_record(record, lambda_context)
    # outcome is one of booked / failed / deferred / skipped: a small, fixed set of metric names.
    metrics.add_metric(name=f"Documents_{outcome.get('outcome', 'unknown')}", unit=MetricUnit.Count, value=1)
    return outcome


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    idempotency_config.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
