"""Keeps the full-text index in step with documents; attachment text is extracted in the background."""
from __future__ import annotations

import io
import logging
import subprocess
import sys
import zipfile

from ..models import fts, write_transaction
from ..models.schema import Attachment, Document
from ..text import fold

log = logging.getLogger(__name__)
MAX_TEXT_CHARS = 200_000  # enough for search; a 500-page annex need not be indexed whole
PDF_TIMEOUT_SECONDS = 90  # wall clock; the child also has 60 s of CPU (vanban/pdftext.py)


def scope_tokens(doc: Document) -> str:
    """Filter tokens FTS5 intersects with the words: agency, type, register, confidentiality, direction."""
    return (f"ag{doc.agency_id} ty{doc.doc_type.lower()} rg{doc.register_id or 0} "
            f"cf{doc.confidentiality} dr{doc.direction}")


def index_document(doc: Document, body: str = "") -> None:
    fts.upsert(doc.id, subject=fold(doc.subject), notation=fold(f"{doc.number}/{doc.notation}"),
               issuer=fold(doc.issuer_name), body=fold(body), scope=scope_tokens(doc))


def queue_text_extraction(ctx, doc: Document) -> None:
    if Attachment.select().where(Attachment.document == doc.id).exists():
        ctx.jobs.extract_text(doc.id)


def extract_text(data: bytes, content_type: str) -> str:
    try:
        if content_type == "application/pdf":
            return _pdf_text(data)
        if content_type.endswith("wordprocessingml.document"):
            from defusedxml import ElementTree

            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                root = ElementTree.fromstring(zf.read("word/document.xml"))
            return " ".join(t.text or "" for t in root.iter() if t.tag.endswith("}t"))[:MAX_TEXT_CHARS]
    except Exception as exc:  # a broken attachment must not stop the worker; it is just not searchable
        log.warning("text extraction failed: %s", exc)
        return ""
    return ""


def _pdf_text(data: bytes) -> str:
    """pypdf in a child process with CPU and memory limits (vanban/pdftext.py says why)."""
    try:
        proc = subprocess.run([sys.executable, "-m", "vanban.pdftext", str(MAX_TEXT_CHARS)], input=data,
                              capture_output=True, timeout=PDF_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        log.warning("text extraction gave up after %d s", PDF_TIMEOUT_SECONDS)
        return ""
    if proc.returncode != 0:
        log.warning("text extraction failed (exit %s): %s", proc.returncode,
                    proc.stderr.decode("utf-8", "replace").strip()[-500:])
        return ""
    return proc.stdout.decode("utf-8", "replace")


def reindex_attachments(blobs, doc_id: int) -> None:
    """Job body: extract the text of every attachment of a document and put it in the index."""
    doc = Document.get_or_none(Document.id == doc_id)
    if doc is None:
        return
    texts = []
    for att in Attachment.select().where(Attachment.document == doc_id):
        with blobs.open(att.blob_id) as fh:
            texts.append(extract_text(fh.read(), att.content_type))
    with write_transaction():
        index_document(doc, "\n".join(t for t in texts if t))
        Attachment.update(text_status="done").where(Attachment.document == doc_id).execute()
