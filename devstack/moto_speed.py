"""moto's DynamoDB query without its full-table work, for the local runtime and the tests.

moto answers every Query by sorting *all* items of the table (``Table.all_items``) and computing
the size of each candidate, so a query costs O(table) however selective its key is; a run of a
thousand documents spends most of its time there (25 ms per query at 500 items, growing). This
narrows the candidates first — the partition's items (or the index partition's) that meet the key
condition — and lets moto's own code do the rest (the same conditions again, order, limits,
filters, projections, pagination), so the answers are moto's.
"""
from __future__ import annotations

from typing import Any


def narrow_queries() -> None:
    """Patch moto's Table.query in this process; idempotent."""
    from moto.dynamodb.models.table import Table

    original = Table.query
    if getattr(original, "narrowed", False):
        return

    def query(self: Any, hash_key: Any, range_comparison: Any, range_objs: Any, limit: Any,
              exclusive_start_key: Any, scan_index_forward: Any, projection_expressions: Any,
              index_name: Any = None, *args: Any, **kwargs: Any) -> Any:
        candidates = _candidates(self, hash_key, index_name, range_comparison, range_objs)
        if candidates is None:
            return original(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                            scan_index_forward, projection_expressions, index_name, *args, **kwargs)
        # moto reads the candidates through all_items(), sorted as it would sort the whole table.
        self.all_items = lambda: sorted(candidates, key=lambda x: (x.hash_key, x.range_key) if x.range_key
                                        else x.hash_key)
        try:
            return original(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                            scan_index_forward, projection_expressions, index_name, *args, **kwargs)
        finally:
            del self.all_items

    query.narrowed = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]


def _candidates(table: Any, hash_key: Any, index_name: str | None, range_comparison: Any,
                range_objs: Any) -> list | None:
    if hash_key is None or not table.range_key_attr:
        return None  # multi-attribute keys, hash-only tables: moto as it is
    if index_name is None:
        items = list(table.items.get(hash_key, {}).values())
        if range_comparison:
            items = [item for item in items if item.range_key.compare(range_comparison, range_objs)]
        return items
    index = table.get_index(index_name)
    hash_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]
    range_attrs = [key["AttributeName"] for key in index.schema if key["KeyType"] == "RANGE"]
    if len(hash_attrs) != 1 or len(range_attrs) > 1:
        return None
    items = [item for partition in table.items.values() for item in partition.values()
             if item.attrs.get(hash_attrs[0]) is not None  # a sparse index: items without its key
             and item.attrs[hash_attrs[0]] == hash_key]
    if range_comparison and range_attrs:
        items = [item for item in items if item.attrs.get(range_attrs[0]) is not None
                 and item.attrs[range_attrs[0]].compare(range_comparison, range_objs)]
    return items


def cache_backend_lookup() -> None:
    """Remember which moto backend serves a host, in this process; idempotent.

    moto's server finds the backend of every request anew: it lists moto's package folder from disk
    (``list_of_moto_modules``: ~150 ``isdir`` calls) and then tries every backend's URL patterns in
    turn. A host always maps to the same backend, so the answer is kept per host. Under the booking
    benchmark that lookup was about a fifth of moto's CPU (py-spy), and moto is one process: its CPU
    bounds how fast the local runtime books.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    if getattr(original, "cached", False):
        return
    known: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in known:
            known[host] = original(self, host)  # racing threads compute the same answer: harmless
        return known[host]

    get_backend_for_host.cached = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]
