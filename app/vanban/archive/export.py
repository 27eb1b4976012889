"""A dossier with its documents and metadata, in chronological order: as one PDF (the catalogue, then each
document's PDF files) and as XML (Phụ lục VI dossier and document metadata, edXML tag names).

Pure functions over rows the caller has already checked access to (core.dossiers.get_dossier)."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree
from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError

from ..clock import VN
from ..core.doctypes import TYPE_NAMES
from ..models.schema import Attachment, Document
from ..reports import registers, render_pdf

XML_NS = "urn:vanban:dossier:1"  # our own namespace: element names follow Phụ lục VI / edXML


@dataclass
class DocFiles:
    document: Document
    files: list = field(default_factory=list)  # (Attachment, pages or None)

    @property
    def pages(self) -> int:
        return sum(p or 0 for _, p in self.files)


def iso(value) -> str:
    """ISO 8601 with the Vietnam offset (TT 05/2025: times carry +07:00)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=VN)).isoformat(timespec="seconds")
    return value.isoformat() if value else ""


def pdf_pages(path) -> int | None:
    try:
        return len(PdfReader(str(path)).pages)
    except (PyPdfError, OSError, ValueError):
        return None  # damaged or encrypted: still archived as a file, just not counted or merged


def collect(blobs, docs: list[Document]) -> list[DocFiles]:
    out = []
    for doc in docs:
        entry = DocFiles(doc)
        for a in Attachment.select().where(Attachment.document == doc.id).order_by(Attachment.id):
            pages = pdf_pages(blobs.path(a.blob_id)) if a.content_type == "application/pdf" else None
            entry.files.append((a, pages))
        out.append(entry)
    return out


def catalogue_rows(items: list[DocFiles]) -> list[dict]:
    """Mục lục văn bản: Tờ số is the first sheet of each document within the dossier (the catalogue itself is
    not numbered)."""
    rows, sheet = [], 1
    for it in items:
        d = it.document
        rows.append({"number": d.number, "notation": d.notation, "doc_date": d.doc_date,
                     "author": d.issuer_name or d.agency.name, "subject": d.subject,
                     "sheet_number": sheet if it.pages else "", "page_count": it.pages or "", "notes": ""})
        sheet += it.pages
    return rows


def catalogue_report(dossier, agency_name, items):
    return registers.dossier_documents(
        catalogue_rows(items), agency_name, dossier.file_code, dossier.title, start_date=dossier.start_date,
        end_date=dossier.end_date, retention=dossier.retention_years or "Vĩnh viễn")


def dossier_pdf(blobs, dossier, items: list[DocFiles]) -> bytes:
    writer = PdfWriter()
    writer.append(io.BytesIO(render_pdf(catalogue_report(dossier, dossier.agency.name, items))))
    for it in items:
        for a, pages in it.files:
            if pages:
                writer.append(str(blobs.path(a.blob_id)))
    writer.add_metadata({"/Title": f"Hồ sơ {dossier.file_code}: {dossier.title}", "/Producer": "vanban"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _sub(parent, tag, text=None, **attrs):
    el = etree.SubElement(parent, f"{{{XML_NS}}}{tag}", **attrs)
    if text not in (None, ""):
        el.text = str(text)
    return el


def dossier_xml(dossier, items: list[DocFiles], *, creator: str) -> bytes:
    """Phụ lục VI dossier fields (FileCode, Title, Maintenance, Rights, Creator, Language, StartDate, EndDate,
    DocTotal, PageTotal, Description) and each document's input metadata, oldest first."""
    root = etree.Element(f"{{{XML_NS}}}Dossier", nsmap={None: XML_NS})
    fc = _sub(root, "FileCode")
    _sub(fc, "OrganId", dossier.agency.code)
    _sub(fc, "FileCatalog", dossier.year)
    _sub(fc, "FileNotation", dossier.file_code)
    _sub(root, "Title", dossier.title)
    _sub(root, "Maintenance", "Vĩnh viễn" if dossier.retention_years is None else f"{dossier.retention_years} năm")
    _sub(root, "Rights", "Hạn chế" if any(i.document.confidentiality for i in items) else "Công khai nội bộ")
    _sub(root, "Creator", creator)
    _sub(root, "Language", "vi")
    _sub(root, "StartDate", iso(dossier.start_date))
    _sub(root, "EndDate", iso(dossier.end_date))
    _sub(root, "DocTotal", len(items))
    _sub(root, "PageTotal", sum(i.pages for i in items))
    _sub(root, "Description", dossier.description)
    docs = _sub(root, "Documents")
    for order, it in enumerate(items, 1):
        _document_xml(docs, order, it)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _document_xml(parent, order, it: DocFiles):
    d = it.document
    el = _sub(parent, "Document", DocOrdinal=str(order))
    _sub(el, "Direction", "incoming" if d.direction == "in" else "outgoing")
    _sub(el, "TypeName", TYPE_NAMES.get(d.doc_type, d.doc_type))
    _sub(el, "CodeNumber", d.number)
    _sub(el, "CodeNotation", d.notation)
    _sub(el, "IssuedDate", iso(d.doc_date))
    _sub(el, "OrganName", d.issuer_name or d.agency.name)
    _sub(el, "Subject", d.subject)
    _sub(el, "Language", "vi")
    _sub(el, "PageAmount", it.pages)
    _sub(el, "Priority", d.urgency)
    _sub(el, "Confidentiality", d.confidentiality)
    if d.direction == "in":
        _sub(el, "ArrivalDate", iso(d.arrival_at))
        _sub(el, "ArrivalNumber", d.arrival_number)
    if d.deadline:
        _sub(el, "DueDate", iso(d.deadline))
    files = _sub(el, "Files")
    for a, pages in it.files:
        _sub(files, "File", Name=a.filename, ContentType=a.content_type, Size=str(a.size), SHA256=a.blob_id,
             **({"Pages": str(pages)} if pages else {}))
