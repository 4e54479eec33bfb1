"""E-invoices in UBL 2.1 (Peppol BIS Billing 3.0): one `<Invoice>` document read into an `InvoiceDraft`.

Parsed with defusedxml, which refuses DTDs and entity declarations (XXE, billion laughs) outright.
Every refusal names the element at fault in the document's own terms, such as
`cac:InvoiceLine[2]/cbc:InvoicedQuantity is not a number.`; the document's stated totals
(`cac:LegalMonetaryTotal`, `cac:TaxTotal`) are checked against the lines by `validate_draft`.

What is read: cbc:ID, cbc:IssueDate, cbc:DueDate, cbc:DocumentCurrencyCode, cbc:Note,
cac:OrderReference/cbc:ID, cac:Delivery/cbc:ActualDeliveryDate, the buyer
(cac:AccountingCustomerParty/cac:Party: cbc:EndpointID, cac:PartyIdentification/cbc:ID,
cac:PartyTaxScheme/cbc:CompanyID, cac:PartyLegalEntity/cbc:CompanyID, matched against a buyer's
reference, VAT number or registration number), and each cac:InvoiceLine (cbc:InvoicedQuantity with
its unitCode, cac:Price/cbc:PriceAmount per cbc:BaseQuantity, cac:Item/cbc:Name,
cac:Item/cac:SellersItemIdentification/cbc:ID, cac:Item/cac:ClassifiedTaxCategory/cbc:Percent).
Document-level allowances and charges (cac:AllowanceCharge) are refused: Accord's invoices have none.
UN/CEFACT CII and Factur-X are not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from backend.errors import ValidationFailed
from backend.i18n import _
from backend.invoices.drafts import InvoiceDraft, LineDraft, Problem

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NAMESPACES = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
_PREFIX_OF = {uri: prefix for prefix, uri in NAMESPACES.items()}
MAX_LINES = 10_000


@dataclass
class UblInvoice:
    draft: InvoiceDraft
    buyer_keys: tuple[str, ...]
    buyer_name: str | None


def looks_like_xml(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _refuse(element: str, message: str, **params) -> ValidationFailed:
    return ValidationFailed(message, field=element, params={"element": element, **params})


class _Reader:
    def __init__(self, root: Element) -> None:
        self.root = root

    def find(self, parent: Element, path: str) -> Element | None:
        return parent.find(path, NAMESPACES)

    def text(self, parent: Element, path: str, where: str, *, required: bool = False) -> str | None:
        found = self.find(parent, path)
        value = (found.text or "").strip() if found is not None else ""
        if required and not value:
            raise _refuse(where + path, _("%(element)s is missing."))
        return value or None

    def number(self, parent: Element, path: str, where: str, *, required: bool = False) -> Decimal | None:
        raw = self.text(parent, path, where, required=required)
        if raw is None:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise _refuse(where + path, _("%(element)s is not a number.")) from None
        if not value.is_finite():
            raise _refuse(where + path, _("%(element)s is not a number."))
        return value

    def date(self, parent: Element, path: str, where: str, *, required: bool = False) -> date | None:
        raw = self.text(parent, path, where, required=required)
        if raw is None:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise _refuse(where + path, _("%(element)s is not a date as yyyy-mm-dd.")) from None


def _qualified(tag: str) -> str:
    if tag.startswith("{"):
        uri, _sep, local = tag[1:].partition("}")
        return f"{_PREFIX_OF.get(uri, uri)}:{local}" if uri in _PREFIX_OF else local
    return tag


def parse_ubl(data: bytes) -> UblInvoice:
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise _refuse("xml", _("The XML declares a DTD or entities, which are refused.")) from None
    except ParseError as error:
        raise _refuse("xml", _("The XML is not well-formed: %(reason)s."), reason=str(error)) from None
    if root.tag != f"{{{INVOICE_NS}}}Invoice":
        raise _refuse(_qualified(root.tag), _("The document is a %(element)s, not a UBL 2.1 Invoice."))
    read = _Reader(root)
    if read.find(root, "cac:AllowanceCharge") is not None:
        raise _refuse("cac:AllowanceCharge", _("%(element)s (document-level allowances and charges) is not supported."))

    number = read.text(root, "cbc:ID", "", required=True)
    issue_date = read.date(root, "cbc:IssueDate", "", required=True)
    due_date = read.date(root, "cbc:DueDate", "")
    currency = read.text(root, "cbc:DocumentCurrencyCode", "", required=True)
    customer = read.find(root, "cac:AccountingCustomerParty/cac:Party")
    if customer is None:
        raise _refuse("cac:AccountingCustomerParty/cac:Party", _("%(element)s is missing."))
    party = "cac:AccountingCustomerParty/cac:Party/"
    keys = [
        (element.text or "").strip()
        for path in (
            "cbc:EndpointID",
            "cac:PartyIdentification/cbc:ID",
            "cac:PartyTaxScheme/cbc:CompanyID",
            "cac:PartyLegalEntity/cbc:CompanyID",
        )
        for element in customer.findall(path, NAMESPACES)
    ]
    buyer_keys = tuple(dict.fromkeys(key for key in keys if key))
    if not buyer_keys:
        raise _refuse(party + "cbc:EndpointID", _("%(element)s is missing: the buyer cannot be identified."))
    buyer_name = read.text(customer, "cac:PartyLegalEntity/cbc:RegistrationName", party) or read.text(
        customer, "cac:PartyName/cbc:Name", party
    )

    line_elements = root.findall("cac:InvoiceLine", NAMESPACES)
    if not line_elements:
        raise _refuse("cac:InvoiceLine", _("%(element)s is missing."))
    if len(line_elements) > MAX_LINES:
        raise _refuse("cac:InvoiceLine", _("%(element)s appears more than 10,000 times."))
    lines = []
    for index, element in enumerate(line_elements, start=1):
        where = f"cac:InvoiceLine[{index}]/"
        quantity = read.number(element, "cbc:InvoicedQuantity", where, required=True)
        price = read.number(element, "cac:Price/cbc:PriceAmount", where, required=True)
        base = read.number(element, "cac:Price/cbc:BaseQuantity", where)
        if base is not None and base <= 0:
            raise _refuse(where + "cac:Price/cbc:BaseQuantity", _("%(element)s must be above zero."))
        unit_code = read.find(element, "cbc:InvoicedQuantity").get("unitCode") or "EA"
        lines.append(
            LineDraft(
                description=read.text(element, "cac:Item/cbc:Name", where, required=True)[:500],
                quantity=quantity,
                unit_price=price if base in (None, Decimal(1)) else (price / base).quantize(Decimal("0.0001")),
                tax_rate=read.number(element, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", where) or Decimal(0),
                sku=(read.text(element, "cac:Item/cac:SellersItemIdentification/cbc:ID", where) or "")[:64] or None,
                unit=unit_code.strip()[:16] or "EA",
            )
        )

    totals = "cac:LegalMonetaryTotal/"
    if read.find(root, "cac:LegalMonetaryTotal") is None:
        raise _refuse("cac:LegalMonetaryTotal", _("%(element)s is missing."))
    stated_net = read.number(root, totals + "cbc:TaxExclusiveAmount", "", required=True)
    stated_gross = read.number(root, totals + "cbc:TaxInclusiveAmount", "", required=True)
    payable = read.number(root, totals + "cbc:PayableAmount", "", required=True)
    prepaid = read.number(root, totals + "cbc:PrepaidAmount", "") or Decimal(0)
    rounding = read.number(root, totals + "cbc:PayableRoundingAmount", "") or Decimal(0)
    if payable != stated_gross - prepaid + rounding:
        raise _refuse(
            totals + "cbc:PayableAmount",
            _("%(element)s %(payable)s is not the tax-inclusive amount less the prepaid amount."),
            payable=str(payable),
        )
    stated_tax = None
    for index, tax_total in enumerate(root.findall("cac:TaxTotal", NAMESPACES), start=1):
        amount = read.number(tax_total, "cbc:TaxAmount", f"cac:TaxTotal[{index}]/", required=True)
        tax_currency = read.find(tax_total, "cbc:TaxAmount").get("currencyID")
        if tax_currency in (None, currency):
            stated_tax = amount

    order_reference = read.text(root, "cac:OrderReference/cbc:ID", "")
    notes = [note.text.strip() for note in root.findall("cbc:Note", NAMESPACES) if note.text and note.text.strip()]
    draft = InvoiceDraft(
        number=number,
        buyer_reference=buyer_keys[0],
        currency=currency.upper(),
        issue_date=issue_date,
        due_date=due_date,
        delivery_date=read.date(root, "cac:Delivery/cbc:ActualDeliveryDate", ""),
        po_reference=order_reference[:64] if order_reference else None,
        notes="\n".join(notes) or None,
        lines=lines,
        stated_net=stated_net,
        stated_tax=stated_tax,
        stated_gross=stated_gross,
    )
    return UblInvoice(draft=draft, buyer_keys=buyer_keys, buyer_name=buyer_name)


_FIELD_ELEMENTS = {
    "number": "cbc:ID",
    "buyer_reference": "cac:AccountingCustomerParty",
    "currency": "cbc:DocumentCurrencyCode",
    "due_date": "cbc:DueDate",
    "lines": "cac:InvoiceLine",
    "net_amount": "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount",
    "tax_amount": "cac:TaxTotal/cbc:TaxAmount",
    "gross_amount": "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount",
}
_LINE_FIELD_ELEMENTS = {
    "description": "cac:Item/cbc:Name",
    "quantity": "cbc:InvoicedQuantity",
    "unit_price": "cac:Price/cbc:PriceAmount",
    "tax_rate": "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent",
}


def element_of(problem: Problem) -> str:
    """The UBL element a draft's problem is about: `lines[2].quantity` is `cac:InvoiceLine[2]/cbc:InvoicedQuantity`."""
    if problem.field.startswith("lines["):
        index, _sep, name = problem.field[len("lines[") :].partition("].")
        return f"cac:InvoiceLine[{index}]/{_LINE_FIELD_ELEMENTS.get(name, name)}"
    return _FIELD_ELEMENTS.get(problem.field, problem.field)
