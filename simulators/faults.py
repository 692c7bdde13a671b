"""Fault injection shared by the HTTP simulators (Visma eAccounting, Procountor, Uniconta).

Each simulator declares its own ``Fault`` dataclass (its kinds, fields and defaults: what its vendor
can do wrong) and mixes in ``FaultRules``; its state mixes in ``FaultQueue``; its app adds the
``/_sim/faults`` control routes with ``add_fault_routes``.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, Callable


class FaultRules:
    """Validation and matching for a simulator's ``Fault`` dataclass (which declares ``KINDS`` and the
    fields ``kind``, ``method``, ``path_prefix``, ``times`` and ``probability``)."""

    KINDS: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {self.KINDS}")
        if not 0 < self.probability <= 1:
            raise ValueError("probability must be in (0, 1]")

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method.upper() == method.upper()) and path.startswith(self.path_prefix)


class FaultQueue:
    """The queued faults of a simulator state (which holds ``lock``, ``faults`` (a deque) and a seeded
    ``rng``): matching faults fire in FIFO order, ``times`` times (-1 = forever), each with its
    ``probability`` drawn from the seeded generator so that a run can be repeated."""

    def add_fault(self, fault: Any) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, method: str, path: str) -> Any | None:
        """The first queued fault matching the request, consuming one of its firings."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path) and (fault.probability >= 1 or self.rng.random() < fault.probability):
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            self.faults.remove(fault)
                    return fault
            return None


def add_fault_routes(app: Any, state: FaultQueue, fault_type: type, *, body: Callable[[], dict],
                     refuse: Callable[[str], Any], respond: Callable[..., Any]) -> None:
    """``POST /_sim/faults`` (queue one; 400 with the reason when it is not a valid fault),
    ``GET /_sim/faults`` (the queue), ``DELETE /_sim/faults`` (empty it)."""

    @app.post("/_sim/faults")
    def sim_add_fault() -> Any:
        try:
            fault = fault_type(**body())
        except (TypeError, ValueError) as exc:
            return refuse(str(exc))
        state.add_fault(fault)
        return respond(asdict(fault), 201)

    @app.get("/_sim/faults")
    def sim_list_faults() -> Any:
        with state.lock:
            return respond([asdict(f) for f in state.faults])

    @app.delete("/_sim/faults")
    def sim_clear_faults() -> Any:
        with state.lock:
            cleared = len(state.faults)
            state.faults.clear()
        return respond({"cleared": cleared})
