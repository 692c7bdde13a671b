"""One local Lambda container: ``python -m devstack.container <LogicalId>`` (see containers.py).

Reads one JSON event per line on stdin, invokes the function's handler, answers one JSON line
on the original stdout. Everything the handler prints (Powertools logs) goes to stderr, so it
shows in the local runtime's output and never mixes with the answers.
"""
from __future__ import annotations

import json
import os
import sys
import traceback


def main(logical_id: str) -> int:
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # fd 1 now writes to stderr, for code that writes to it directly
    sys.stdout = os.fdopen(1, "w", buffering=1)

    import warnings

    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from . import lambdas

    handler = lambdas.handler(logical_id)  # the init phase, as Lambda runs it before the first event
    timeout = lambdas.timeout_of(logical_id)
    for line in sys.stdin.buffer:
        event = json.loads(line)
        if event == {"__warmup__": True}:
            answer: dict = {"result": None}
        else:
            try:
                answer = {"result": lambdas.call(logical_id, handler, event, timeout)}
            except Exception as exc:  # the function failed: Lambda reports it, the container stays warm
                traceback.print_exc()
                answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer, default=str).encode() + b"\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
