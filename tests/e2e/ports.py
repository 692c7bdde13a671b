"""Free ports for a local runtime started by a test (it takes six in a row)."""
from __future__ import annotations

import socket

# The gateway, then the Visma eAccounting simulator, moto, the 24SevenOffice, the Procountor and the
# Uniconta simulators (devstack/__main__.py: --port and the next five).
STACK_PORTS = 6


def stack_free_ports(count: int = STACK_PORTS) -> int:
    """The first of ``count`` consecutive free ports: the gateway takes it, the simulators and moto
    the next ones."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            base = first.getsockname()[1]
        sockets = []
        try:
            for offset in range(count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports")
