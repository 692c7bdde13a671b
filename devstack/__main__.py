"""python -m devstack [run|demo]: the local runtime (see README)."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .stack import DevStack, StackOptions


def serve(args: argparse.Namespace) -> int:
    options = StackOptions(gateway_port=args.port, simulator_port=args.port + 1, moto_port=args.port + 2,
                           simulator_latency_ms=args.latency_ms, schedule_interval=args.schedule_interval,
                           log_level=args.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with DevStack(options) as stack:
        api_key = stack.create_tenant("local-tenant")
        print(f"""
ledgerbridge local stack is up
  hub API (local API Gateway)   {stack.url}
  OAuth callback                {stack.url}/oauth/callback
  Visma eAccounting simulator   {stack.simulator.base_url}  (user demo@bakery.example / demo-password)
  AWS (moto server)             {stack.env['LB_AWS_ENDPOINT_URL']}
  schedule                      scheduler runs every {args.schedule_interval:g} s; worker polls SQS continuously

Tenant 'local-tenant' API key (shown once):
  export LB_KEY={api_key}

Try:
  curl -s -X POST {stack.url}/connections -H "Authorization: Bearer $LB_KEY" \\
       -d '{{"vendor":"visma_eaccounting","name":"My shop"}}'
  curl -s -X POST {stack.url}/connections/<connection_id>/connect -H "Authorization: Bearer $LB_KEY"
      -> open connect_url in a browser, log in, "Yes, allow"
  curl -s {stack.url}/connections/<connection_id>/documents -H "Authorization: Bearer $LB_KEY"

Ctrl-C stops it.""", flush=True)
        try:
            stop.wait(args.seconds if args.seconds else None)
        except KeyboardInterrupt:
            pass
    print("stopped")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the whole hub locally")
    run.add_argument("--port", type=int, default=int(os.environ.get("LB_LOCAL_PORT", "8100")),
                     help="gateway port; the simulator and moto take the next two")
    run.add_argument("--latency-ms", type=int, default=0, help="simulated vendor latency")
    run.add_argument("--schedule-interval", type=float, default=60.0)
    run.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    run.add_argument("--seconds", type=float, default=float(os.environ.get("RUN_SECONDS", "0")),
                     help="stop after this many seconds (0: run until interrupted)")
    sub.add_parser("demo", help="the scripted end-to-end demo")
    args = parser.parse_args()
    if args.command == "demo":
        from .demo import main as demo_main

        return demo_main()
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
