"""Benchmarks for ledgerbridge (``make bench`` / ``python -m bench``); printed by hand, not run in CI.

- ``imports``: cold import time of each Lambda handler in a fresh interpreter, next to ``import boto3``.
- ``runtime``: vendor calls per booked settlement, ingest latency and booking throughput through the
  local runtime (DevStack: moto server, Visma simulator, local API Gateway, scheduler, SQS poller).

Figures are printed as a table and written to bench/results/latest.json.
"""
