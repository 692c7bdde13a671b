"""Free ports for a local runtime started by a test (it takes four in a row)."""
from __future__ import annotations

import socket


def four_free_ports() -> int:
    """The first of four consecutive free ports: the gateway takes it, the two simulators and moto
    the next three."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            base = first.getsockname()[1]
        sockets = []
        try:
            for offset in range(4):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no four consecutive free ports")
