"""OAuth callback handler: the vendor redirects the user's browser here after consent."""
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgerbridge.api.oauth_callback import app
from ledgerbridge.tracing import function_tracer

logger = Logger()
# botocore patched now, httpx when a vendor call first imports it (see ledgerbridge.tracing).
tracer = function_tracer()


# The query string carries the authorization code: never log the event.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
