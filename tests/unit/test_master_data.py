"""Master-data sync's rules (domain/master_data.py) and Uniconta's notification parsing, without I/O."""
from __future__ import annotations

from decimal import Decimal

import pytest

from ledgerbridge.connectors.uniconta.records import parse_notification, standard_fields
from ledgerbridge.domain.master_data import BadValue, canonical, carried, content_hash, from_source, from_vendor
from ledgerbridge.models.sync import FieldType, SyncSetup

SETUP = SyncSetup(tag="Uniconta", fields=["Name", "Phone", "Birthday", "News", "Visits", "Discount"],
                  master={"Name": "source", "Discount": "vendor"},
                  field_types={"Name": "text", "Phone": "text", "Birthday": "date", "News": "boolean",
                               "Visits": "integer", "Discount": "number"})


@pytest.mark.parametrize("value, kind, expected", [
    ("  Mette ", FieldType.TEXT, "Mette"), ("", FieldType.TEXT, None), (None, FieldType.TEXT, None),
    ("2026-03-01T00:00:00", FieldType.DATE, "2026-03-01"), ("2026-03-01", FieldType.DATE, "2026-03-01"),
    ("true", FieldType.BOOLEAN, True), (False, FieldType.BOOLEAN, False),
    (Decimal("10.0"), FieldType.INTEGER, 10), ("7", FieldType.INTEGER, 7),
    (Decimal("12.50"), FieldType.NUMBER, Decimal("12.5")), (10, FieldType.NUMBER, Decimal("10")),
    (Decimal("0.00"), FieldType.NUMBER, Decimal(0)), (True, FieldType.TEXT, "true"),
])
def test_values_compare_in_one_canonical_form(value, kind, expected):
    assert canonical(value, kind) == expected


@pytest.mark.parametrize("value, kind", [("first of March", FieldType.DATE), ("yes", FieldType.BOOLEAN),
                                         ("1.5", FieldType.INTEGER), (True, FieldType.NUMBER),
                                         ("NaN", FieldType.NUMBER), ("x", FieldType.NUMBER)])
def test_values_a_type_cannot_take_are_refused(value, kind):
    with pytest.raises(BadValue):
        canonical(value, kind)


def test_the_same_content_through_either_side_hashes_alike():
    source = carried({"Name": "Mette", "Birthday": "1990-03-01", "Visits": 3, "Discount": "10"}, SETUP, strict=True)
    vendor = carried({"Name": "Mette ", "Birthday": "1990-03-01T00:00:00", "Visits": Decimal("3"),
                      "Discount": Decimal("10.00"), "City": "Odense"}, SETUP, strict=False)
    assert source == vendor and content_hash(True, source) == content_hash(True, vendor)
    assert content_hash(False, source) != content_hash(True, source)
    with pytest.raises(BadValue, match="Birthday"):
        carried({"Birthday": "soon"}, SETUP, strict=True)


def values(**changes):
    base = {"Name": "Mette", "Phone": "1", "Birthday": None, "News": True, "Visits": 1, "Discount": Decimal(5)}
    return {**base, **changes}


def test_a_source_change_writes_what_the_source_changed_and_masters():
    previous = values()
    vendor = values(Phone="2")  # changed in Uniconta since: "both" keeps the latest
    merge = from_source(SETUP, values(Visits=2), previous, vendor, full=False)
    assert merge.write == values(Phone="2", Visits=2)
    # Nothing the source changed differs from the vendor: nothing to write.
    assert from_source(SETUP, values(Phone="2"), previous, vendor, full=False).write is None
    # The vendor masters Discount: the source's value is not taken.
    merge = from_source(SETUP, values(Discount=Decimal(9)), previous, values(), full=False)
    assert merge.write is None and merge.reverted == ["Discount"]
    # Full (tagged again): every source- and both-mastered value goes.
    assert from_source(SETUP, values(), previous, values(Phone="2", Name="X"), full=True).write == values()
    # New: everything.
    assert from_source(SETUP, values(), None, None, full=True).write == values()


def test_a_vendor_change_is_forwarded_once_and_echoes_are_nothing():
    seen, source = values(), values()
    assert from_vendor(SETUP, values(), seen, source).forward == []  # the hub's own write coming back
    merge = from_vendor(SETUP, values(Phone="9"), seen, source)
    assert merge.forward == ["Phone"] and merge.restore is None
    # The source already has the value (it pushed it while the notification was on its way): nothing.
    assert from_vendor(SETUP, values(Phone="9"), seen, values(Phone="9")).forward == []
    # A source-mastered field changed in the vendor is put back, not forwarded.
    merge = from_vendor(SETUP, values(Name="Forkert"), seen, source)
    assert merge.forward == [] and merge.restore["Name"] == "Mette"


@pytest.mark.parametrize("query, body, expected", [
    ({"Table": "Debtor", "Key": "C0001", "Operation": "Update"}, None, ("C0001", "update", None)),
    ({"Key": "C0001", "Action": "add"}, None, ("C0001", "insert", None)),
    ({"Operation": "Delete"}, b'{"Account": "C0002", "Name": "x"}', ("C0002", "delete", "x")),
])
def test_uniconta_notifications_in_either_spelling(query, body, expected):
    change = parse_notification(query, body)
    assert (change.vendor_key, change.operation, (change.row or {}).get("Name")) == expected


@pytest.mark.parametrize("query, words", [({"Key": "1"}, "Operation"), ({"Operation": "Update"}, "Key"),
                                          ({"Table": "GLAccount", "Key": "1", "Operation": "Update"}, "not synced")])
def test_a_notification_without_what_it_needs_says_what_is_missing(query, words):
    with pytest.raises(ValueError, match=words):
        parse_notification(query, None)


def test_standard_fields_come_from_the_edmx_without_resolving_entities():
    edmx = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
    <edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>
    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm"><EntityType Name="DebtorClient">
    <Property Name="Account" Type="Edm.String" MaxLength="20"/><Property Name="Blocked" Type="Edm.Boolean"/>
    <Property Name="Name" Type="Edm.String"/></EntityType></Schema></edmx:DataServices></edmx:Edmx>"""
    fields = standard_fields(edmx, "DebtorClient")
    assert {n: (f.type, f.max_length) for n, f in fields.items()} == {
        "Account": (FieldType.TEXT, 20), "Blocked": (FieldType.BOOLEAN, None), "Name": (FieldType.TEXT, None)}


def test_a_webhook_goes_to_a_public_https_host():
    SyncSetup(tag="t", fields=["Name"], webhook_url="https://flexybox.example/hooks")
    for url in ("http://flexybox.example/hooks", "https://10.1.2.3/x", "https://169.254.169.254/latest"):
        with pytest.raises(ValueError):
            SyncSetup(tag="t", fields=["Name"], webhook_url=url)
