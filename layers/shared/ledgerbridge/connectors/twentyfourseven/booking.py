"""A shop's settlements booked into one 24SevenOffice company (DUELL's "Z-rapport" link).

What 24SevenOffice offers, and so how a booking goes (see simulators/twentyfourseven/booking.py for
the readings of the WSDL and the developer pages these rest on):

1. The Z-report PDF: ``GetStampNo`` (the next free stamp number, not reserved until a file is saved
   with it) → ``Create(Pdf)`` → ``AppendChunk`` in pieces under the service's request limit →
   ``Save(location Journal)`` with the stamp number. Every entry of the voucher carries that
   ``StampNo``, which ties the file to the voucher. Checkpoints after Create and Save, and the file's
   size asked with ``GetSize`` before appending again, so a retry never uploads a second file.
2. The voucher: one bundle with one voucher through ``SaveBundleList``: ``YearId`` = the fiscal
   year (a year number), ``Sort`` = the voucher type's number (the shop's "bilagsart"), entries
   signed (debit +, credit −) with ``TaxNo``, ``DepartmentId`` and our reference in ``Comment``
   (75 UTF-16 units at most), ``BundleDirectAccounting`` (our own VAT lines, no VAT calculated by
   24SevenOffice), never ``AllowDifference``. ``SaveOption`` 1 puts it in voucher reception for a
   bookkeeper to approve (and edit), 0 posts it to the ledger. The answer is one ``SaveResponse``
   for the whole call: ``Ok``, or ``NotSaved`` with the problems in ``Description`` (nothing saved).
3. Proof before sending again: ``SaveBundleList`` has no idempotency key (a ``TransactionNo`` is
   none either: a used number is booked under again). A posted voucher is found in the ledger by
   our reference (``GetTransactions`` on the voucher's date and first account). A draft in voucher
   reception cannot be seen through any published call, so its absence cannot be proven: after an
   unanswered post to voucher reception the document fails with what the bookkeeper should check.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterator, Protocol

from ...errors import AmbiguousVendorOutcome, PermanentVendorError, TransientVendorError, VendorError
from ...text import cut_text
from ..base import (
    SUBMITTED,
    VENDOR_DOCUMENT_ID,
    VENDOR_DOCUMENT_NUMBER,
    AttachmentFile,
    BookingReceipt,
    Checkpoints,
    CompanyRef,
    receipt_checkpoints,
)
from .soap import as_list

if TYPE_CHECKING:  # pragma: no cover
    from ...models.connection import Connection
    from ..base import Voucher


class CompanyUnit(Protocol):
    """What a booking needs of the connector's company unit (connector.CompanyUnit): SOAP calls
    made as the company, under its session lease, and the company's name for messages."""

    company: CompanyRef

    def call(self, service: str, operation: str, **arguments: Any) -> Any: ...

    def stream(self, service: str, operation: str, row_type: str, **arguments: Any) -> Iterator[dict[str, Any]]: ...

# Where the settlement goes: the seed's "Type import" (AV: voucher reception, PÅ: the ledger).
RECEPTION = "reception"
LEDGER = "ledger"
TYPE_IMPORT_CHOICES = {RECEPTION: "Voucher reception (a bookkeeper approves it, and may edit it first)",
                       LEDGER: "General ledger (booked at once, not editable)"}
# Entry.Comment holds 75 UTF-16 code units (the REST API documents the same field so).
COMMENT_MAX = 75
# Raw bytes per AppendChunk: base64 adds a third, the envelope a little; the service takes 4096 KB.
CHUNK_BYTES = 2 * 1024 * 1024
IMAGE_TYPES = {"application/pdf": "Pdf", "image/png": "Png", "image/jpeg": "Jpeg", "image/tiff": "Tiff"}

# Checkpoints of this connector (the core keeps them on the document).
FILE_ID = "tfso_file_id"
FILE_SAVED = "tfso_file_saved"
STAMP_NO = "tfso_stamp_no"
SAVED_TO = "tfso_saved_to"  # reception | ledger: where the voucher was sent


@dataclass(frozen=True)
class ShopSettings:
    """The picks of a booking connection (vendor_settings), read once per booking."""

    company_id: str
    identity_id: str
    company_name: str
    department_id: int | None
    voucher_type: int  # the transaction type's No (Bundle.Sort)
    type_import: str

    @classmethod
    def of(cls, connection: "Connection") -> "ShopSettings":
        picks = connection.vendor_settings
        missing = [name for name in ("company", "transaction_type") if not picks.get(name)]
        if missing:
            raise PermanentVendorError(
                "choose " + " and ".join(_SETTING_NAMES[m] for m in missing)
                + f" for this connection first (PUT /connections/{connection.connection_id}/vendor-settings)")
        department = picks.get("department")
        if not department and len(connection.choices.get("department") or []) > 1:
            raise PermanentVendorError(
                f"the company has {len(connection.choices['department'])} departments: choose the one to book "
                f"into (PUT /connections/{connection.connection_id}/vendor-settings {{\"department\": …}})")
        return cls(company_id=picks["company"], identity_id=picks.get("company_identity") or "",
                   company_name=picks.get("company_name") or picks["company"],
                   department_id=int(department) if department else None,
                   voucher_type=int(picks["transaction_type"]),
                   type_import=picks.get("type_import") or RECEPTION)


_SETTING_NAMES = {"company": "the company to book into", "transaction_type": "the voucher type (bilagsart)"}


class AbsenceUnprovable(PermanentVendorError):
    """A post to voucher reception got no clear answer; drafts there cannot be listed through the
    API, so only a person can tell whether it arrived."""


def fiscal_year_id(unit: "CompanyUnit", day: date) -> int:
    """The YearId of the open fiscal year covering ``day``; refused before anything is sent."""
    for year in _fiscal_years(unit):
        start, end = _day(year.get("StartingDate")), _day(year.get("EndingDate"))
        if start and end and start <= day <= end:
            if year.get("IsLocked"):
                raise PermanentVendorError(
                    f"the fiscal year {start.year} is closed in 24SevenOffice ({unit.company.name}); "
                    f"open it, or book {day.isoformat()} another way")
            return start.year
    raise PermanentVendorError(
        f"no fiscal year in 24SevenOffice ({unit.company.name}) covers {day.isoformat()}; create it under "
        f"Accounting > Settings > Fiscal years, then replay")


def _fiscal_years(unit: "CompanyUnit") -> list[dict[str, Any]]:
    return as_list(unit.call("transaction", "GetFiscalYears"), "FiscalYear")


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def upload_attachment(unit: "CompanyUnit", attachment: AttachmentFile, checkpoints: Checkpoints,
                      max_request_bytes: int | None = None) -> int:
    """Upload the file once and return its stamp number (see the module docstring, step 1)."""
    if checkpoints.get(FILE_SAVED):
        return int(checkpoints.get(STAMP_NO) or 0)
    image_type = IMAGE_TYPES.get(attachment.content_type)
    if image_type is None:
        raise PermanentVendorError(f"24SevenOffice takes no {attachment.content_type} attachments")
    file_id = checkpoints.get(FILE_ID)
    if file_id is None:
        # A Create whose answer was lost leaves an empty, unsaved file at the vendor, which appears
        # nowhere; so creating again is harmless, and nothing is saved without our checkpoint.
        created = unit.call("attachment", "Create", type=image_type) or {}
        file_id = str(created.get("Id"))
        checkpoints.save(FILE_ID, file_id)
        offset = 0
    else:
        offset = int(unit.call("attachment", "GetSize", file=_file(file_id, image_type)) or 0)
    chunk = CHUNK_BYTES if max_request_bytes is None else max(min(CHUNK_BYTES, max_request_bytes * 2 // 3 - 16_384),
                                                                64 * 1024)
    content = attachment.content
    if offset > len(content):
        raise PermanentVendorError(f"24SevenOffice holds more of file {file_id} than was sent; upload it again")
    while offset < len(content):
        piece = content[offset:offset + chunk]
        unit.call("attachment", "AppendChunk", file=_file(file_id, image_type), buffer=piece, offset=offset)
        offset += len(piece)
    stamp = checkpoints.get(STAMP_NO)
    if stamp is None:
        stamp = str(unit.call("attachment", "GetStampNo"))
        checkpoints.save(STAMP_NO, stamp)
    file = _file(file_id, image_type)
    file["FrameInfo"] = {"ImageFrameInfo": [{"Id": 1, "StampNo": int(stamp), "Status": 0}]}
    # Saving the same file again with the same stamp changes nothing: safe to repeat after a lost answer.
    unit.call("attachment", "Save", file=file, location="Journal")
    checkpoints.save(FILE_SAVED, "yes")
    return int(stamp)


def _file(file_id: str, image_type: str) -> dict[str, Any]:
    return {"Id": int(file_id), "Type": image_type, "StampNo": 0}


def bundle_list(voucher: "Voucher", settings: ShopSettings, year_id: int, stamp_no: int | None) -> dict[str, Any]:
    """The SaveBundleList argument for one voucher."""
    when = datetime(voucher.voucher_date.year, voucher.voucher_date.month, voucher.voucher_date.day)
    marker = f" [{voucher.reference}]"
    entries = []
    for line in voucher.lines:
        amount = line.debit - line.credit
        if amount == 0:
            continue
        entries.append({
            "AccountNo": int(line.account), "Date": when, "Amount": amount,
            "TaxNo": line.vat_code_id or None,
            "DepartmentId": settings.department_id or 0,
            # Our reference on every entry: the booking is found whichever account is searched.
            "Comment": cut_text(line.text, COMMENT_MAX - len(marker)) + marker,
            "StampNo": stamp_no or 0,
        })
    return {
        "Bundles": {"Bundle": [{
            "YearId": year_id, "Sort": settings.voucher_type,
            "Name": cut_text(voucher.text, 200), "BundleDirectAccounting": True,
            "Vouchers": {"Voucher": [{"TransactionNo": 0, "Sort": settings.voucher_type,
                                      "Entries": {"Entry": entries}}]},
        }]},
        "SaveOption": 1 if settings.type_import == RECEPTION else 0,
        "DirectLedger": False, "AllowDifference": False,
    }


def save_voucher(unit: "CompanyUnit", voucher: "Voucher", settings: ShopSettings, year_id: int,
                 stamp_no: int | None, checkpoints: Checkpoints) -> None:
    """The one creating call: SUBMITTED before it, cleared only when 24SevenOffice refused it."""
    argument = bundle_list(voucher, settings, year_id, stamp_no)
    checkpoints.save(SAVED_TO, settings.type_import)
    checkpoints.save(SUBMITTED, datetime.now(timezone.utc).isoformat())
    try:
        response = unit.call("account", "SaveBundleList", creates=True, BundleList=argument) or {}
    except AmbiguousVendorOutcome:
        raise  # sent, answer unknown: the doubt stays until the booking is found (or proven absent)
    except TransientVendorError:
        raise  # a server fault may come after the save: keep the doubt
    except VendorError:
        checkpoints.clear(SUBMITTED)  # refused before acting (soap:Client, a credential refused)
        raise
    outcome = str(response.get("Type") or "")
    problems = (response.get("Description") or "").strip()
    if outcome == "Ok":
        return
    if outcome == "NotSaved":
        checkpoints.clear(SUBMITTED)  # all or nothing: nothing was saved
        raise PermanentVendorError("24SevenOffice refused the voucher: " + "; ".join(
            line.strip() for line in problems.splitlines() if line.strip())[:1500])
    if outcome in ("DuplicateData", "DataAlreadySaved"):
        return  # it is there already: the caller finds it
    raise TransientVendorError(f"24SevenOffice answered {outcome or 'nothing'} to the voucher"
                               + (f": {problems[:500]}" if problems else ""))


def find_in_ledger(unit: "CompanyUnit", voucher: "Voucher") -> BookingReceipt | None:
    """A posted voucher of ours: the first account's entries of that day carrying our reference."""
    marker = f"[{voucher.reference}]"
    first = next((line for line in voucher.lines if line.debit != line.credit), None)
    if first is None:
        return None
    day = datetime(voucher.voucher_date.year, voucher.voucher_date.month, voucher.voucher_date.day)
    for row in unit.stream("transaction", "GetTransactions", "Transaction", searchParams={
        "DateStart": day, "DateEnd": day + timedelta(hours=23, minutes=59, seconds=59),
        "AccountNoStart": int(first.account), "AccountNoEnd": int(first.account),
        "SystemType": None, "HasInvoiceId": None,
    }):
        if marker in (row.get("Comment") or ""):
            number = row.get("TransactionNo")
            year = voucher.voucher_date.year
            return BookingReceipt(vendor_document_id=f"{year}-{number}", vendor_document_number=str(number))
    return None


def in_reception(voucher: "Voucher") -> BookingReceipt:
    return BookingReceipt(vendor_document_id=f"voucher-reception {voucher.reference}", vendor_document_number=None)


def unprovable(voucher: "Voucher", company: str) -> AbsenceUnprovable:
    return AbsenceUnprovable(
        f"the voucher was sent to 24SevenOffice's voucher reception ({company}) without a clear answer, and "
        f"drafts there cannot be looked up: check voucher reception for [{voucher.reference}] before replaying — "
        f"if it is there, approve it (a replay then finds it in the ledger) or keep it; if it is not, replay with "
        f"resend=true")


def book(unit: "CompanyUnit", voucher: "Voucher", attachment: AttachmentFile | None, settings: ShopSettings,
         checkpoints: Checkpoints) -> BookingReceipt:
    if not checkpoints.get(VENDOR_DOCUMENT_ID):
        year_id = fiscal_year_id(unit, voucher.voucher_date)  # refused before the file is uploaded (no orphan)
        stamp = upload_attachment(unit, attachment, checkpoints) if attachment is not None else None
        save_voucher(unit, voucher, settings, year_id, stamp, checkpoints)
        found = find_in_ledger(unit, voucher) if settings.type_import == LEDGER else None
        receipt = found or (in_reception(voucher) if settings.type_import == RECEPTION else BookingReceipt(
            vendor_document_id=f"ledger {voucher.reference}", vendor_document_number=None))
        checkpoints.save_all(receipt_checkpoints(receipt))
        return receipt
    return BookingReceipt(vendor_document_id=checkpoints.get(VENDOR_DOCUMENT_ID) or "",
                          vendor_document_number=checkpoints.get(VENDOR_DOCUMENT_NUMBER))


def find_booking(unit: "CompanyUnit", voucher: "Voucher", sent_to: str | None) -> BookingReceipt | None:
    """After an unanswered post: found in the ledger (posted, or a draft approved since), None when
    the ledger proves it absent, AbsenceUnprovable when it may sit in voucher reception."""
    found = find_in_ledger(unit, voucher)
    if found is not None:
        return found
    if sent_to == RECEPTION:
        raise unprovable(voucher, unit.company.name)
    return None


def product_exists(unit: "CompanyUnit", number: str) -> bool:
    rows = as_list(unit.call("product", "GetProducts", searchParams={"No": number},
                              returnProperties={"string": ["Id", "No", "Name"]}), "Product")
    return any(str(row.get("No") or "").upper() == number.upper() for row in rows)

