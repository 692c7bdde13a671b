"""python -m simulators.visma_eaccounting --host 127.0.0.1 --port 8101 [--latency-ms 50] [--redirect-uri URL ...]"""

from __future__ import annotations

import argparse

from ..serving import serve_until_stopped
from .config import SimulatorConfig
from .server import VismaSimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.visma_eaccounting",
                                     description="Visma eAccounting API v2 simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every /v2 and /connect/token call")
    parser.add_argument("--redirect-uri", action="append", default=[],
                        help="registered redirect URI of the default client (repeatable; "
                             "none = any 127.0.0.1/localhost URI)")
    parser.add_argument("--rate-limit-per-minute", type=int, default=600)
    args = parser.parse_args(argv)

    config = SimulatorConfig(latency_ms=args.latency_ms, rate_limit_per_minute=args.rate_limit_per_minute)
    for client in config.clients.values():
        client["redirect_uris"] = list(args.redirect_uri)
    simulator = VismaSimulator(config)
    base_url = simulator.start(args.host, args.port, log_requests=True)
    print(f"Visma eAccounting simulator listening on {base_url}", flush=True)
    serve_until_stopped(simulator)


if __name__ == "__main__":
    main()
