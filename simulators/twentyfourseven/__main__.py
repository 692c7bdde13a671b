"""python -m simulators.twentyfourseven --host 127.0.0.1 --port 8103 [--latency-ms 50] [--no-seed]"""

from __future__ import annotations

import argparse

from ..serving import serve_until_stopped
from .config import SimulatorConfig
from .server import TwentyFourSevenSimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.twentyfourseven",
                                     description="24SevenOffice SOAP web services simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every SOAP call")
    parser.add_argument("--login-limit", type=int, default=5, help="Login calls per username per window")
    parser.add_argument("--login-window-seconds", type=float, default=60.0)
    parser.add_argument("--session-idle-seconds", type=float, default=1200.0)
    parser.add_argument("--application-id", action="append", default=[],
                        help="accepted ApplicationId (repeatable; default the seeded one)")
    parser.add_argument("--no-seed", action="store_true", help="start without the demo users and companies")
    args = parser.parse_args(argv)

    config = SimulatorConfig(latency_ms=args.latency_ms, login_limit=args.login_limit,
                             login_window_seconds=args.login_window_seconds,
                             session_idle_seconds=args.session_idle_seconds, seed=not args.no_seed)
    if args.application_id:
        config.application_ids = list(args.application_id)
    simulator = TwentyFourSevenSimulator(config)
    base_url = simulator.start(args.host, args.port, log_requests=True)
    print(f"24SevenOffice simulator listening on {base_url}", flush=True)
    for name in simulator.SERVICE_PATHS:
        print(f"  {name:<12} {simulator.url(name)}", flush=True)
    serve_until_stopped(simulator)


if __name__ == "__main__":
    main()
