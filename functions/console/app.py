"""Console handler: the server-rendered pages under /console (ledgerbridge.console). Public routes; each
page checks the console session cookie itself (sign-in links are made with a tenant key)."""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgerbridge.console.pages import app
from ledgerbridge.tracing import function_tracer

logger = Logger()
tracer = function_tracer()
metrics = Metrics()


# log_event=False: forms carry integration users' passwords, and cookies the session token.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
# capture_response=False: pages show the tenant's books and one-time secrets.
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
