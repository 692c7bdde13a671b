"""Ingest handler: POST /connections/{id}/settlements and /stock-registrations from the POS back office,
/payroll-journals from a payroll system."""

# No Powertools Tracer here: importing the X-Ray SDK costs ~300 ms of cold start in a function
# that calls no vendor; the function's active tracing (template.yaml) still records every invocation.
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgerbridge.api.ingest import app

logger = Logger()
metrics = Metrics()
_METRIC_BY_RESOURCE = {"stock-registrations": "StockRegistrations", "payroll-journals": "PayrollJournals"}


# log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event carries the tenant key
# (Authorization header) and the shop's settlement.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    response = app.resolve(event, context)
    accepted = response["statusCode"] < 300
    what = _METRIC_BY_RESOURCE.get(str(event.get("resource") or "").rsplit("/", 1)[-1], "Settlements")
    metrics.add_metric(name=f"{what}Accepted" if accepted else f"{what}Rejected", unit=MetricUnit.Count, value=1)
    return response
