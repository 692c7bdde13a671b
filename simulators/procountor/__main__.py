"""python -m simulators.procountor --host 127.0.0.1 --port 8104 [--latency-ms 50] [--redirect-uri URL]"""

from __future__ import annotations

import argparse

from ..serving import serve_until_stopped
from .config import SimulatorConfig
from .server import ProcountorSimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.procountor", description="Procountor REST API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8104)
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every /api call")
    parser.add_argument("--redirect-uri", default=None,
                        help="the one registered redirect URI of the default client (no query string; "
                             "default: the first loopback URI used)")
    parser.add_argument("--rate-limit", type=int, default=20, help="requests per client per window")
    parser.add_argument("--rate-limit-window-s", type=float, default=1.0)
    parser.add_argument("--no-retry-after", action="store_true", help="answer 429 without a Retry-After header")
    args = parser.parse_args(argv)

    config = SimulatorConfig(latency_ms=args.latency_ms, rate_limit_requests=args.rate_limit,
                             rate_limit_window_s=args.rate_limit_window_s, send_retry_after=not args.no_retry_after)
    if args.redirect_uri:
        for client in config.clients.values():
            client["redirect_uri"] = args.redirect_uri
    simulator = ProcountorSimulator(config)
    base_url = simulator.start(args.host, args.port, log_requests=True)
    print(f"Procountor simulator listening on {base_url}", flush=True)
    for company in simulator.companies():
        print(f"  company {company['id']}: {company['name']}", flush=True)
    serve_until_stopped(simulator)


if __name__ == "__main__":
    main()
