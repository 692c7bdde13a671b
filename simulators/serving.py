"""What every vendor simulator shares: its WSGI app served by a threaded werkzeug server in a
daemon thread, started on a free port, stopped quickly (tests start and stop them often)."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # keep test output readable
        pass


class ServedSimulator:
    """Base of the simulators: subclasses set ``self.app`` (and may use ``self._stop_event`` to cut
    injected sleeps short) before ``start``."""

    thread_name = "simulator"

    def __init__(self) -> None:
        self._stop_event = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None
        self.app: Any = None

    def start(self, host: str = "127.0.0.1", port: int = 0, log_requests: bool = False) -> str:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._stop_event.clear()
        self._server = make_server(host, port, self.app, threaded=True,
                                   request_handler=None if log_requests else _QuietRequestHandler)
        self.base_url = f"http://{host}:{self._server.server_port}"
        # A short poll interval keeps stop() (and so every test fixture teardown) fast.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._stop_event.set()  # cut injected sleeps short
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self):
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def serve_until_stopped(simulator: ServedSimulator) -> None:
    """For `python -m simulators.<vendor>`: keep serving until SIGTERM or Ctrl-C, then stop."""
    import signal

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
