"""python -m devstack [run|demo]: the local runtime (see README)."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import date

from . import samples
from .cli_profile import write_profiles
from .stack import PAYROLL_COMPANY, ROOT, PROCOUNTOR_USER, TFSO_USER, DevStack, StackOptions


def serve(args: argparse.Namespace) -> int:
    options = StackOptions(gateway_port=args.port, simulator_port=args.port + 1, moto_port=args.port + 2,
                           tfso_port=args.port + 3, procountor_port=args.port + 4, uniconta_port=args.port + 5,
                           simulator_latency_ms=args.latency_ms, schedule_interval=args.schedule_interval,
                           log_level=args.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with DevStack(options) as stack:
        api_key = stack.create_tenant("local-tenant")
        accounting_key, tfso_connection = stack.accounting_office()
        shop_key, shop_connection = stack.shop()
        payroll_key, payroll_connection = stack.payroll_bureau()
        salon_key, salon_connection = stack.salon()
        keys = {"local-tenant": api_key, "local-accounting": accounting_key, "local-shop": shop_key,
                "local-payroll": payroll_key, "local-salon": salon_key}
        console_links = {tenant: stack.sign_in_link(key) for tenant, key in keys.items()}
        # The `ledgerbridge` command's profiles: one per tenant, and local-operator (moto's tables and queues).
        profiles = write_profiles(stack, keys, ROOT / ".ledgerbridge" / "profiles.toml")
        print(f"""
ledgerbridge local stack is up
  console                       open a sign-in link below (one-time, 15 minutes)
  API docs (Swagger UI)         {stack.url}/console/api-docs
  hub API (local API Gateway)   {stack.url}
  OAuth callback                {stack.url}/oauth/callback
  Visma eAccounting simulator   {stack.simulator.base_url}  (user demo@bakery.example / demo-password)
  AWS (moto server)             {stack.env['LB_AWS_ENDPOINT_URL']}
  schedule                      scheduler runs every {args.schedule_interval:g} s; worker polls SQS continuously

Console sign-in links (each works once; make more with `ledgerbridge sign-in-link` or POST /console/sign-in-links):
{chr(10).join(f"  {tenant:<17} {link}" for tenant, link in console_links.items())}

The command line (profiles written to {profiles.relative_to(ROOT)}, found from this folder):
  .venv/bin/ledgerbridge --profile local-shop connections
  .venv/bin/ledgerbridge --profile local-shop log {shop_connection}
  .venv/bin/ledgerbridge --profile local-shop transfer {shop_connection} --follow
  .venv/bin/ledgerbridge --profile local-operator operator tenants
  .venv/bin/ledgerbridge --help

Tenant 'local-tenant' API key (shown once):
  export LB_KEY={api_key}

Try:
  curl -s -X POST {stack.url}/connections -H "Authorization: Bearer $LB_KEY" \\
       -H "Content-Type: application/json" -d '{{"vendor":"visma_eaccounting","name":"My shop"}}'
  curl -s -X POST {stack.url}/connections/<connection_id>/connect -H "Authorization: Bearer $LB_KEY"
      -> open connect_url in a browser, log in, "Yes, allow"
  curl -s {stack.url}/connections/<connection_id>/documents -H "Authorization: Bearer $LB_KEY"

24SevenOffice: tenant 'local-accounting' has connection {tfso_connection} with the integration
user {TFSO_USER[0]} stored and its client companies being imported:
  export LB_KEY2={accounting_key}
  curl -s {stack.url}/connections/{tfso_connection}/companies -H "Authorization: Bearer $LB_KEY2"
  curl -s -X PUT {stack.url}/connections/{tfso_connection}/companies/1100001/reconciliation \\
       -H "Authorization: Bearer $LB_KEY2" -H "Content-Type: application/json" -d '{{"accounts":["1920","1500"]}}'
  curl -s -X POST {stack.url}/connections/{tfso_connection}/balance-refresh -H "Authorization: Bearer $LB_KEY2" -H "Content-Type: application/json" -d '{{}}'
  curl -s {stack.url}/connections/{tfso_connection}/companies/1100001 -H "Authorization: Bearer $LB_KEY2"
  24SevenOffice simulator       {stack.tfso.base_url}  (SOAP; ?wsdl on each .asmx)

A café (tenant 'local-shop') books its Z-reports into Havnekafeen AS, department 201 Solsiden, through
the same integration user: connection {shop_connection}, voucher reception, inventory change on.
  export LB_KEY3={shop_key}
  curl -s -X POST {stack.url}/connections/{shop_connection}/settlements -H "Authorization: Bearer $LB_KEY3" \\
       -H "Content-Type: application/json" -d @docs/examples/z_report_havnekafeen.json
  curl -s -X POST {stack.url}/connections/{shop_connection}/transfers -H "Authorization: Bearer $LB_KEY3"
  curl -s {stack.url}/connections/{shop_connection}/documents -H "Authorization: Bearer $LB_KEY3"
  curl -s {stack.tfso.base_url}/_sim/clients/{samples.SHOP_COMPANY}/voucher-reception   (approve: POST …/{{draft_id}}/approve)

Procountor: a payroll bureau (tenant 'local-payroll') books payroll journals into {PAYROLL_COMPANY}:
connection {payroll_connection}, signed in as {PROCOUNTOR_USER[0]} with that company picked, payroll setup
saved (cost centres on Kustannuspaikka). A June run with corrections for January-May is six receipts:
  export LB_KEY4={payroll_key}
  .venv/bin/python -c 'import json; from devstack import samples; print(json.dumps(samples.payroll_journal()))' \\
    | curl -s -X POST {stack.url}/connections/{payroll_connection}/payroll-journals -H "Authorization: Bearer $LB_KEY4" \\
           -H "Content-Type: application/json" -d @-
  curl -s -X POST {stack.url}/connections/{payroll_connection}/transfers -H "Authorization: Bearer $LB_KEY4"
  curl -s {stack.url}/connections/{payroll_connection}/documents/run-2026-06 -H "Authorization: Bearer $LB_KEY4"
  curl -s "{stack.procountor.base_url}/_sim/receipts?company={stack.procountor.company_id(PAYROLL_COMPANY)}"
  Procountor simulator          {stack.procountor.base_url}  (user {PROCOUNTOR_USER[0]} / {PROCOUNTOR_USER[1]}: two
                                companies; close a period: POST /_sim/periods {{"company","period","status"}})

Uniconta: a hair salon (tenant 'local-salon') books its daily Z-reports into Salon Sakse ApS (company
{samples.UNICONTA_COMPANY}) as one batch of lines in daily journal {samples.UNICONTA_JOURNAL}: connection {salon_connection}, user
{samples.UNICONTA_LOGIN['username']} stored and tested, journal picked, account setup saved (VAT code U25 -> 6900).
  export LB_KEY5={salon_key}
  .venv/bin/python -c 'import json; from devstack import samples; print(json.dumps(samples.salon_day("{date.today().isoformat()}")))' \\
    | curl -s -X POST {stack.url}/connections/{salon_connection}/settlements -H "Authorization: Bearer $LB_KEY5" \\
           -H "Content-Type: application/json" -d @-
  curl -s -X POST {stack.url}/connections/{salon_connection}/transfers -H "Authorization: Bearer $LB_KEY5"
  curl -s {stack.url}/connections/{salon_connection}/documents/Z-{date.today().isoformat()}-1 -H "Authorization: Bearer $LB_KEY5"
  curl -s {stack.url}/connections/{salon_connection} -H "Authorization: Bearer $LB_KEY5"   (vendor_usage: calls today)
  curl -s {stack.uniconta.base_url}/_sim/companies/{samples.UNICONTA_COMPANY}/journals/{samples.UNICONTA_JOURNAL}/lines
  Customer sync (tag Uniconta; modification URL pasted into the simulator, Post ticked): push customers, then
  edit one "in Uniconta" and read the changes feed:
  .venv/bin/python -c 'import json; from devstack import samples; print(json.dumps({{"customers": [samples.salon_customer(n) for n in (1, 2, 3)]}}))' \\
    | curl -s -X POST {stack.url}/connections/{salon_connection}/customers -H "Authorization: Bearer $LB_KEY5" \\
           -H "Content-Type: application/json" -d @-
  curl -s -X PATCH {stack.uniconta.base_url}/_sim/companies/{samples.UNICONTA_COMPANY}/debtors/C0002 -H "Content-Type: application/json" -d '{{"Phone": "+45 70 11 22 33"}}'
  curl -s {stack.url}/connections/{salon_connection}/customers/changes -H "Authorization: Bearer $LB_KEY5"
  curl -s {stack.url}/connections/{salon_connection}/customer-sync -H "Authorization: Bearer $LB_KEY5"
  Uniconta simulator            {stack.uniconta.base_url}  (user {samples.UNICONTA_LOGIN['username']} / {samples.UNICONTA_LOGIN['password']}; the
                                bookkeeper posts: POST /_sim/companies/{samples.UNICONTA_COMPANY}/journals/{samples.UNICONTA_JOURNAL}/post, then
                                GET /_sim/companies/{samples.UNICONTA_COMPANY}/ledger; calls: GET /_sim/usage?user={samples.UNICONTA_LOGIN['username']})

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
                     help="gateway port; the Visma simulator, moto, the 24SevenOffice, Procountor and Uniconta "
                          "simulators take the next five")
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
