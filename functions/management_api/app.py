"""Management API handler: connections, connect, integration users, account setup, schedule,
transfers, client companies, export log."""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgerbridge.api.management import app
from ledgerbridge.tracing import function_tracer

logger = Logger()
# botocore patched now, httpx when a vendor call first imports it (see ledgerbridge.tracing).
tracer = function_tracer()
metrics = Metrics()


# log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: request bodies carry integration
# users' passwords (PUT /connections/{id}/credential).
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
# capture_response=False: responses carry one-time connect links (connect_url), which do not
# belong in trace metadata.
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
