"""``python -m devstack.moto_process PORT``: moto's standalone server in a process of its own.

The local runtime's AWS: in its own process it has a core to itself instead of sharing one
interpreter lock with the simulators, the gateway and whoever drives the stack (a 1,000-document
chaos run spends most of its time in moto). DynamoDB requests are served one at a time there
(moto_atomic.py). Prints "ready" once it answers; stops when its stdin closes (the parent stopped
or died), so it never outlives the stack.
"""
from __future__ import annotations

import logging
import sys


def main(port: int) -> int:
    from moto.server import ThreadedMotoServer

    from .moto_atomic import serialize_dynamodb, serialize_s3_objects
    from .moto_speed import cache_backend_lookup, narrow_queries

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per request
    serialize_dynamodb()
    serialize_s3_objects()
    narrow_queries()
    cache_backend_lookup()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
