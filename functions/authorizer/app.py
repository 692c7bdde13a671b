"""Lambda authorizer: resolves the tenant from its API key for every management/ingest call."""
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgerbridge.authorizer import authorize

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return authorize(event)
