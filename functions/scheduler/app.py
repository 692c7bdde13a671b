"""Scheduler: EventBridge invokes it periodically; it hands out the connections that are due (one
small message each; the transfer worker plans each connection's documents or run)."""

# No Powertools Tracer here: importing the X-Ray SDK costs ~300 ms of cold start in a function
# that calls no vendor; the function's active tracing (template.yaml) still records every invocation.
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgerbridge.services.scheduling import run_due, scheduled_time

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    # The scheduled event's own time, so a delayed or replayed invocation plans from when it was due.
    summary = run_due(scheduled_time(event), remaining_ms=context.get_remaining_time_in_millis)
    metrics.add_metric(name="ConnectionsHandedOut", unit=MetricUnit.Count, value=summary["connections"])
    logger.info("scheduler run", extra=summary)
    return summary
