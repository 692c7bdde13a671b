"""Vendor notification receiver: GET|POST /hooks/{vendor}/{tenant_id}/{connection_id} (public; the
connection's secret in the query string authenticates it). Queues the change and answers at once."""

# No Tracer: the X-Ray SDK's import would slow the cold start of a function that must answer in
# milliseconds; the function's active tracing (template.yaml) still records every invocation.
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgerbridge.api.hooks import app

logger = Logger()
metrics = Metrics()


# log_event=False: the query string carries the connection's secret (Argument).
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    response = app.resolve(event, context)
    metrics.add_metric(name="NotificationsQueued" if response["statusCode"] < 300 else "NotificationsRefused",
                       unit=MetricUnit.Count, value=1)
    return response
