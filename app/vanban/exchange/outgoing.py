"""edXML for rows of the outgoing workflow's outbox (models/outgoing.py Outbox: kind "issue" or "recall").

The package is built when the push job sends it, from the issued Document, its sealed files and its draft
(signer, recipients' names); the message id is derived from the outbox row, so a retry after a lost answer is
recognised by the hub, and DocumentId + recipient by the receiving node.
"""
from __future__ import annotations

from ..core.doctypes import TYPE_NAMES
from ..models.schema import Attachment as FileRow
from ..models.schema import Document
from . import edxml
from .codes import EdxmlError, StatusCode

# Since 1 March 2020 most administrative types travel without a paper original (DOMAIN §11): Paper = 0,
# except where a paper original is still the rule. Kept as data so a province can change it.
PAPER_BY_DEFAULT = {"HDG": 1, "BGN": 1, "BTT": 1}


def document_id_of(doc: Document) -> str:
    return edxml.document_id(doc.agency.code, doc.doc_date, doc.number, doc.notation)


def _draft_of(doc: Document):
    try:
        from ..models.outgoing import Draft, DraftRecipient
    except ImportError:
        return None, {}
    draft = Draft.get_or_none(Draft.document == doc.id)
    names = {}
    if draft is not None:
        for r in DraftRecipient.select().where((DraftRecipient.draft == draft.id) & (DraftRecipient.kind == "agency")):
            names[r.organ_id] = r.name
    return draft, names


def build_issue_package(ctx, row) -> edxml.Package:
    doc = Document.get_by_id(row.document_id)
    if doc.confidentiality > 0:
        # DOMAIN §4: documents containing state secrets are not exchanged electronically.
        raise EdxmlError("confidential", "Văn bản mật không được gửi qua trục liên thông")
    draft, names = _draft_of(doc)
    signer = edxml.SignerInfo()
    if draft is not None and draft.signer_id:
        competence = f"{draft.authority_prefix} {draft.on_behalf_of}".strip() if draft.authority_prefix else ""
        signer = edxml.SignerInfo(competence=competence, position=draft.signer_title,
                                  full_name=draft.signer.full_name)
    files = []
    for i, f in enumerate(FileRow.select().where(FileRow.document == doc.id).order_by(FileRow.id)):
        with ctx.blobs.open(f.blob_id) as fh:
            files.append(edxml.Attachment(content_id=f"att{i + 1}", name=f.filename, data=fh.read(),
                                          content_type=f.content_type))
    agency = doc.agency
    now = ctx.clock.now()
    return edxml.Package(
        from_org=edxml.Organization(organ_id=agency.code, organ_name=agency.name, organ_add=agency.address),
        to_orgs=(edxml.Organization(organ_id=row.organ_id, organ_name=names.get(row.organ_id, "")),),
        code_number=doc.number, code_notation=doc.notation, promulgation_date=doc.doc_date, subject=doc.subject,
        type_name=TYPE_NAMES.get(doc.doc_type, "Công văn"), type_detail=doc.doc_type, signer=signer,
        due_date=doc.deadline, other_info=edxml.OtherInfo(priority=doc.urgency),
        trace_headers=(edxml.TraceHeader(organ_id=agency.code, timestamp=now),),
        business=edxml.Business(paper=PAPER_BY_DEFAULT.get(doc.doc_type, 0)), attachments=tuple(files))


def build_recall_status(ctx, row) -> edxml.StatusMessage:
    """Recall (thu hồi): status 13 asks the recipient to withdraw its copy; it answers 15 or 16."""
    doc = Document.get_by_id(row.document_id)
    draft, _ = _draft_of(doc)
    reason = getattr(draft, "recall_reason", "") if draft is not None else ""
    return edxml.StatusMessage(
        response_for=edxml.ResponseFor(organ_id=row.organ_id, code=f"{doc.number}/{doc.notation}",
                                       promulgation_date=doc.doc_date, document_id=document_id_of(doc)),
        from_org=edxml.Organization(organ_id=doc.agency.code, organ_name=doc.agency.name),
        status_code=StatusCode.RECALL_REQUESTED, timestamp=ctx.clock.now(),
        description=(reason or "Đề nghị thu hồi văn bản")[:1000])
