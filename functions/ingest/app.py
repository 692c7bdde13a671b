"""Ingest handler: POST /connections/{id}/settlements from the POS back office."""
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgerbridge.api.ingest import app

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    response = app.resolve(event, context)
    metrics.add_metric(name=f"SettlementsReceived{response['statusCode']}", unit=MetricUnit.Count, value=1)
    return response
