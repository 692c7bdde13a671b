"""python -m simulators.uniconta --host 127.0.0.1 --port 8105 [--latency-ms 50] [--modification-url URL --argument S]"""

from __future__ import annotations

import argparse

from ..serving import serve_until_stopped
from .config import SimulatorConfig
from .server import UnicontaSimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.uniconta", description="Uniconta REST/OData simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8105)
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every /api and /odata call")
    parser.add_argument("--delay-unit-s", type=float, default=1.0,
                        help="seconds of delay per level over the daily call budget (Uniconta: 1)")
    parser.add_argument("--daily-call-budget", type=int, default=5000)
    parser.add_argument("--query-style", choices=("standard", "documented"), default="standard",
                        help="how the modification URL's parameters are appended")
    parser.add_argument("--modification-url", default=None,
                        help="a Debtor modification URL for the salon company (4415), as if pasted in Uniconta")
    parser.add_argument("--argument", default=None, help="the modification URL's Argument")
    args = parser.parse_args(argv)

    config = SimulatorConfig(latency_ms=args.latency_ms, delay_unit_s=args.delay_unit_s,
                             daily_call_budget=args.daily_call_budget, query_style=args.query_style)
    simulator = UnicontaSimulator(config)
    base_url = simulator.start(args.host, args.port, log_requests=True)
    if args.modification_url:
        simulator.add_modification_url(4415, args.modification_url, args.argument)
    print(f"Uniconta simulator listening on {base_url}", flush=True)
    for company in simulator.companies():
        print(f"  company {company['CompanyId']}: {company['Name']}", flush=True)
    for user, spec in config.users.items():
        print(f"  user {user} (companies {spec['companies']})", flush=True)
    serve_until_stopped(simulator)


if __name__ == "__main__":
    main()
