"""The local runtime: the whole hub on one machine with no cloud account and no Docker.

AWS is moto's standalone server, vendors are the simulators, API Gateway is a small local
gateway that reads the routes from template.yaml and calls the same Lambda handlers, and
EventBridge + the SQS event source are local driver threads. Never deployed.
"""


def reset_process_caches() -> None:
    """Forget every per-process cache of the layer (settings, clients, tokens, idempotency store).

    Lambda containers keep these across warm invocations; tests and the local runtime change
    the environment underneath, so they reset them.
    """
    from ledgerbridge import aws, worker
    from ledgerbridge.connectors.visma_eaccounting import connector as visma
    from ledgerbridge.credentials import SessionSource, TokenSource
    from ledgerbridge.settings import reset_settings

    reset_settings()
    aws.reset_clients()
    TokenSource.forget_all()
    SessionSource.forget_all()  # vendor sessions are cached per credential, across connections
    worker._persistence.cache_clear()
    worker._idempotent_booker.cache_clear()
    visma._http_by_url.clear()
    import sys

    soap = sys.modules.get("ledgerbridge.connectors.twentyfourseven.soap")
    if soap is not None:  # loaded only where 24SevenOffice is used: never import it for this
        soap._clients.clear()
    tfso = sys.modules.get("ledgerbridge.connectors.twentyfourseven.connector")
    if tfso is not None:
        tfso.TwentyFourSevenConnector._identity_cache.clear()
    procountor = sys.modules.get("ledgerbridge.connectors.procountor.connector")
    if procountor is not None:  # its pooled client holds this process's share of the rate limit
        procountor._http_by_url.clear()
        procountor._references.clear()  # the companies' years, chart and dimensions read for preflights
    uniconta = sys.modules.get("ledgerbridge.connectors.uniconta.connector")
    if uniconta is not None:  # its pooled client, per API URL
        uniconta._http_by_url.clear()
