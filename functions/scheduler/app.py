"""Scheduler: EventBridge invokes it periodically; it enqueues the transfers that are due."""
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgerbridge.services.transfers import run_due, scheduled_time

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    # The scheduled event's own time, so a delayed or replayed invocation plans from when it was due.
    summary = run_due(scheduled_time(event))
    metrics.add_metric(name="TransferJobsEnqueued", unit=MetricUnit.Count, value=summary["jobs"])
    logger.info("scheduler run", extra=summary)
    return summary
