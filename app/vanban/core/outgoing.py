"""Drafting outgoing documents (NĐ 30/2020 Điều 10–13): draft, versions, comments, content and format approval,
submission for signature (trình ký) and sending back. Signing is in signing_service, issue in issuing, recall
in recall."""
from __future__ import annotations

from ..errors import Forbidden, Invalid, InvalidTransition, NotFound
from ..models import write_transaction
from ..models.outgoing import Draft, DraftEvent, DraftFile, DraftRecipient, DraftVersion, FormatApprover
from ..models.schema import Agency, Blob, Department, User
from . import audit, forms
from .agencies import validate_agency_code
from .doctypes import CONFIDENTIALITY, TYPE_NAMES, URGENCY
from .files import extension
from .incoming import blob_guard, discard_uploads
from .routing import pick_user

PREFIXES = ("", "TM.", "Q.", "KT.", "TL.", "TUQ.")
MAIN_TYPES = ("pdf", "docx", "doc", "odt")
NO_ABBREV_TYPES = ("CV", "THC")  # Công văn, Thư công: notation is agency + drafting unit (NĐ 30 Điều 15)
DRAFTING_ROLES = ("specialist", "unit_head", "clerk", "leader")
STATUS_NAMES = {"drafting": "Đang dự thảo", "submitted": "Chờ ký", "signed": "Đã ký, chờ phát hành",
                "issued": "Đã phát hành", "recalled": "Đã thu hồi"}
EVENT_NAMES = {"create": "tạo dự thảo", "version": "sửa, tạo phiên bản", "comment": "góp ý",
               "approve_content": "duyệt nội dung", "approve_format": "duyệt thể thức", "submit": "trình ký",
               "return": "trả lại", "sign": "ký số", "issue": "phát hành", "recall": "thu hồi"}


# ---- access -------------------------------------------------------------------------------------------------

def is_format_approver(user: User) -> bool:
    if "clerk" in user.role_set:
        return True
    return FormatApprover.select().where((FormatApprover.agency == user.agency_id) &
                                         (FormatApprover.user == user.id)).exists()


def is_unit_head_of(user: User, draft: Draft) -> bool:
    return "unit_head" in user.role_set and draft.department_id is not None and \
        user.department_id == draft.department_id


def can_view(user: User, draft: Draft) -> bool:
    """Same agency; a confidential (mật) draft only to the people of its workflow (DOMAIN §4)."""
    if draft.agency_id != user.agency_id:
        return False
    if draft.confidentiality == 0:
        return True
    return (user.id in (draft.drafter_id, draft.signer_id) or is_unit_head_of(user, draft)
            or is_format_approver(user))


def get_draft(user: User, draft_id) -> Draft:
    try:
        draft_id = int(draft_id)
    except (TypeError, ValueError):
        draft_id = -1
    draft = Draft.get_or_none(Draft.id == draft_id)
    if draft is None or not can_view(user, draft):
        raise NotFound("Không tìm thấy dự thảo hoặc bạn không có quyền xem.", code="draft_not_found")
    return draft


def _require_status(draft: Draft, *allowed: str) -> None:
    if draft.status not in allowed:
        raise InvalidTransition(f"Dự thảo đang ở trạng thái \"{STATUS_NAMES.get(draft.status, draft.status)}\"; "
                                f"không thực hiện được thao tác này.", code=f"draft_{draft.status}")


# ---- fields -------------------------------------------------------------------------------------------------

def _current(draft, name, default=None):
    return getattr(draft, name) if draft is not None else default


def _has(data, name, draft) -> bool:
    return draft is None or name in data


def _fields(ctx, actor, data, draft=None) -> dict:
    """Validated draft fields; on a revision, fields absent from the request keep their value."""
    out = {}
    if _has(data, "doc_type", draft):
        out["doc_type"] = forms.choice(data, "doc_type", "Loại văn bản", TYPE_NAMES)
    if _has(data, "subject", draft):
        out["subject"] = forms.text(data, "subject", "Trích yếu", max_len=500)
    if _has(data, "urgency", draft):
        out["urgency"] = forms.choice(data, "urgency", "Độ khẩn", URGENCY, default=0, cast=int)
    if _has(data, "confidentiality", draft):
        out["confidentiality"] = forms.choice(data, "confidentiality", "Độ mật", CONFIDENTIALITY, default=0, cast=int)
    if _has(data, "reply_due", draft):
        due = forms.parse_date(data, "reply_due", "Hạn trả lời", required=False)
        if due and due < ctx.clock.today():
            raise Invalid("Hạn trả lời đã qua.", code="bad_date:reply_due", field="reply_due")
        out["reply_due"] = due
    if _has(data, "signer_id", draft):
        out["signer"] = pick_user(actor.agency_id, data.get("signer_id"), "leader", label="Người ký")
    if _has(data, "authority_prefix", draft):
        out["authority_prefix"] = forms.choice(data, "authority_prefix", "Quyền hạn ký", PREFIXES, default="")
    for name, label in (("on_behalf_of", "Ký thay/thừa lệnh cho"), ("signer_title", "Chức vụ người ký")):
        if _has(data, name, draft):
            out[name] = forms.text(data, name, label, required=False, max_len=120)
    merged = {k: out.get(k, _current(draft, k)) for k in ("doc_type", "authority_prefix", "on_behalf_of",
                                                          "signer_title", "signer")}
    if merged["authority_prefix"] not in ("", "Q.") and not merged["on_behalf_of"]:
        raise Invalid(f"Ký {merged['authority_prefix']} phải ghi rõ thay mặt, ký thay cho ai (ví dụ: Chủ tịch).",
                      code="missing:on_behalf_of", field="on_behalf_of")
    if not merged["signer_title"] and merged["signer"] is not None:
        out["signer_title"] = merged["signer"].position or ""
    if merged["doc_type"] in NO_ABBREV_TYPES and actor.department_id is None and draft is None:
        raise Invalid("Công văn ghi ký hiệu đơn vị soạn thảo; tài khoản của bạn chưa thuộc đơn vị nào.",
                      code="drafting_unit_missing", field="doc_type")
    return out


def _recipients(actor, specs) -> list[dict]:
    """`dept:3`, `user:5` (same agency) or `agency:H19.43` (another agency, here or elsewhere)."""
    rows, seen = [], set()
    for spec in specs or []:
        to = str(spec.get("to") or "").strip()
        purpose = spec.get("purpose") or "handle"
        if purpose not in ("handle", "info"):
            raise Invalid("Mục đích gửi: handle hoặc info.", code="invalid:purpose", field="recipients")
        kind, _, ident = to.partition(":")
        row = _recipient(actor, kind, ident, purpose)
        key = (row["kind"], row.get("department") and row["department"].id, row.get("user") and row["user"].id,
               row.get("organ_id"))
        if key in seen:
            raise Invalid(f"Nơi nhận trùng: {row['name']}.", code="recipient_duplicate", field="recipients")
        seen.add(key)
        rows.append(row)
    if not rows:
        raise Invalid("Chọn ít nhất một nơi nhận.", code="missing:recipients", field="recipients")
    return rows


def _recipient(actor, kind, ident, purpose) -> dict:
    if kind == "dept":
        dept = Department.get_or_none((Department.id == forms.integer({"v": ident}, "v", "Nơi nhận")) &
                                      (Department.agency == actor.agency_id))
        if dept is not None:
            return {"kind": "dept", "department": dept, "name": dept.name, "purpose": purpose}
    elif kind == "user":
        user = pick_user(actor.agency_id, ident, label="Nơi nhận")
        return {"kind": "user", "user": user, "name": user.full_name, "purpose": purpose}
    elif kind == "agency":
        code = validate_agency_code(ident)
        if code == actor.agency.code:
            raise Invalid("Gửi trong cơ quan: chọn đơn vị hoặc người nhận.", code="recipient_self",
                          field="recipients")
        local = Agency.get_or_none(Agency.code == code)
        return {"kind": "agency", "organ_id": code, "name": local.name if local else code, "purpose": purpose}
    raise Invalid(f"Nơi nhận không hợp lệ: {kind}:{ident}"[:120], code="recipient_invalid", field="recipients")


def _check_confidential(confidentiality, recipients) -> None:
    # DOMAIN §4: documents containing state secrets are not exchanged electronically between agencies.
    if confidentiality and any(r["kind"] == "agency" for r in recipients):
        raise Invalid("Văn bản mật không gửi điện tử cho cơ quan khác; chỉ gửi trong nội bộ.",
                      code="confidential_external", field="recipients")


def _check_main(uploads) -> None:
    if not uploads:
        return
    if extension(uploads[0].filename) not in MAIN_TYPES:
        raise Invalid("Tệp văn bản chính phải là PDF hoặc DOCX (tệp đầu tiên).", code="main_file_type",
                      field="files")
    if uploads[0].content_type == "application/pdf":
        from .signing_service import check_pdf_opens

        check_pdf_opens(uploads[0].staged.path)


# ---- use cases ----------------------------------------------------------------------------------------------

def create_draft(ctx, actor: User, data, uploads, recipients) -> Draft:
    """A specialist drafts: fields, recipients, the main file (first upload, PDF or DOCX) and attachments."""
    try:
        if not actor.role_set.intersection(DRAFTING_ROLES):
            raise Forbidden("Bạn không có quyền soạn thảo văn bản đi.", code="role_required")
        fields = _fields(ctx, actor, data)
        rows = _recipients(actor, recipients)
        _check_confidential(fields["confidentiality"], rows)
        if not uploads:
            raise Invalid("Thiếu tệp văn bản chính (PDF hoặc DOCX).", code="missing:files", field="files")
        _check_main(uploads)
        note = forms.text(data, "note", "Ghi chú phiên bản", required=False, max_len=2000)
        now = ctx.clock.now()
        local = now.replace(tzinfo=None)
        with write_transaction(), blob_guard(ctx) as new_blobs:
            draft = Draft.create(agency=actor.agency_id, department=actor.department_id, drafter=actor,
                                 current_version=1, created_at=local, updated_at=local, **fields)
            version = DraftVersion.create(draft=draft, number=1, note=note, created_by=actor, created_at=local)
            new_blobs += _store_files(ctx, version, uploads, local)
            _save_recipients(draft, rows)
            _event(draft, actor, "create", note, local, version=1)
            audit.record(now, actor, "outgoing.create", "draft", draft.id,
                         {"files": [u.staged.sha256 for u in uploads], "recipients": len(rows)})
    except BaseException:
        discard_uploads(uploads)
        raise
    return draft


def new_version(ctx, actor: User, draft_id, data, uploads, recipients=None) -> DraftVersion:
    """The drafter revises: a new version with new files (or the previous files when none are sent); fields
    and recipients sent along replace the old ones. Approvals of earlier versions do not carry over."""
    new_blobs = []
    try:
        draft = get_draft(actor, draft_id)
        if actor.id != draft.drafter_id:
            raise Forbidden("Chỉ người soạn thảo sửa dự thảo.", code="not_drafter")
        fields = _fields(ctx, actor, data, draft)
        rows = _recipients(actor, recipients) if recipients is not None else None
        _check_main(uploads)
        note = forms.text(data, "note", "Ghi chú phiên bản", required=False, max_len=2000)
        now = ctx.clock.now()
        local = now.replace(tzinfo=None)
        with write_transaction():
            draft = Draft.get_by_id(draft.id)
            _require_status(draft, "drafting")
            _check_confidential(fields.get("confidentiality", draft.confidentiality),
                                rows if rows is not None else _recipient_rows(draft))
            previous = _version(draft, draft.current_version)
            number = draft.current_version + 1
            version = DraftVersion.create(draft=draft, number=number, note=note, created_by=actor, created_at=local)
            if uploads:
                new_blobs = _store_files(ctx, version, uploads, local)
                if len(uploads) == 1:
                    _copy_files(previous, version, roles=("attachment",))
            else:
                _copy_files(previous, version)
            if rows is not None:
                DraftRecipient.delete().where(DraftRecipient.draft == draft.id).execute()
                _save_recipients(draft, rows)
            Draft.update(current_version=number, updated_at=local, **fields).where(Draft.id == draft.id).execute()
            _event(draft, actor, "version", note, local, version=number)
            audit.record(now, actor, "outgoing.version", "draft", draft.id, {"version": number})
    except BaseException:
        for sha in new_blobs:
            ctx.blobs.remove(sha)
        discard_uploads(uploads)
        raise
    return version


def comment(ctx, actor: User, draft_id, text: str, version=None) -> DraftEvent:
    """A reviewer comments on a version (góp ý dự thảo)."""
    text = forms.text({"t": text}, "t", "Nội dung góp ý", max_len=4000)
    now = ctx.clock.now()
    with write_transaction():
        draft = get_draft(actor, draft_id)
        _require_status(draft, "drafting", "submitted")
        number = forms.integer({"v": version}, "v", "Phiên bản", required=False) or draft.current_version
        _version(draft, number)
        event = _event(draft, actor, "comment", text, now.replace(tzinfo=None), version=number)
        audit.record(now, actor, "outgoing.comment", "draft", draft.id, {"version": number})
    return event


def approve_content(ctx, actor: User, draft_id, note: str = "") -> DraftVersion:
    """The head of the drafting unit approves the content of the current version."""
    return _approve(ctx, actor, draft_id, note, "content")


def approve_format(ctx, actor: User, draft_id, note: str = "") -> DraftVersion:
    """A clerk or a format approver named by the agency approves the format (thể thức) of the current version."""
    return _approve(ctx, actor, draft_id, note, "format")


def _approve(ctx, actor, draft_id, note, what) -> DraftVersion:
    note = forms.text({"n": note}, "n", "Ý kiến", required=False, max_len=2000)
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    with write_transaction():
        draft = get_draft(actor, draft_id)
        _require_status(draft, "drafting")
        if what == "content" and not is_unit_head_of(actor, draft):
            raise Forbidden("Chỉ trưởng đơn vị soạn thảo duyệt nội dung.", code="not_unit_head")
        if what == "format" and not is_format_approver(actor):
            raise Forbidden("Chỉ văn thư hoặc người được giao duyệt thể thức.", code="not_format_approver")
        version = _version(draft, draft.current_version)
        if getattr(version, f"{what}_approved_by_id") is not None:
            raise InvalidTransition("Phiên bản này đã được duyệt.", code=f"already_approved_{what}")
        DraftVersion.update(**{f"{what}_approved_by": actor, f"{what}_approved_at": local}).where(
            DraftVersion.id == version.id).execute()
        _event(draft, actor, f"approve_{what}", note, local, version=version.number)
        audit.record(now, actor, f"outgoing.approve_{what}", "draft", draft.id, {"version": version.number})
    return DraftVersion.get_by_id(version.id)


def submit(ctx, actor: User, draft_id, note: str = "") -> Draft:
    """Trình ký: the current version, approved for content and format, goes to the named signer."""
    note = forms.text({"n": note}, "n", "Ghi chú", required=False, max_len=2000)
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    with write_transaction():
        draft = get_draft(actor, draft_id)
        if actor.id != draft.drafter_id and not is_unit_head_of(actor, draft):
            raise Forbidden("Chỉ người soạn thảo hoặc trưởng đơn vị trình ký.", code="not_drafter")
        _require_status(draft, "drafting")
        version = _version(draft, draft.current_version)
        if version.content_approved_by_id is None or version.format_approved_by_id is None:
            raise InvalidTransition("Phiên bản hiện tại chưa được duyệt nội dung và thể thức.",
                                    code="not_approved")
        if draft.signer_id is None:
            raise Invalid("Chưa chọn người ký.", code="missing:signer_id", field="signer_id")
        Draft.update(status="submitted", updated_at=local).where(Draft.id == draft.id).execute()
        _event(draft, actor, "submit", note, local, version=version.number)
        audit.record(now, actor, "outgoing.submit", "draft", draft.id,
                     {"version": version.number, "signer": draft.signer.username})
    return Draft.get_by_id(draft.id)


def send_back(ctx, actor: User, draft_id, text: str) -> Draft:
    """The signer returns the draft with a comment; the drafter revises and submits again."""
    text = forms.text({"t": text}, "t", "Lý do trả lại", max_len=4000)
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    with write_transaction():
        draft = get_draft(actor, draft_id)
        if actor.id != draft.signer_id:
            raise Forbidden("Chỉ người được trình ký trả lại dự thảo.", code="not_assigned_signer")
        _require_status(draft, "submitted")
        Draft.update(status="drafting", updated_at=local).where(Draft.id == draft.id).execute()
        _event(draft, actor, "return", text, local, version=draft.current_version)
        audit.record(now, actor, "outgoing.return", "draft", draft.id, {"version": draft.current_version})
    return Draft.get_by_id(draft.id)


def set_format_approver(ctx, actor: User, user_id, enabled: bool = True) -> User:
    """The agency names (or un-names) a person who approves the format of drafts, besides its clerks."""
    from .accounts import require_role

    require_role(actor, "admin")
    now = ctx.clock.now()
    with write_transaction():
        user = pick_user(actor.agency_id, user_id, label="Người duyệt thể thức")
        cond = (FormatApprover.agency == actor.agency_id) & (FormatApprover.user == user.id)
        if enabled:
            if not FormatApprover.select().where(cond).exists():
                FormatApprover.create(agency=actor.agency_id, user=user)
        else:
            FormatApprover.delete().where(cond).execute()
        audit.record(now, actor, "outgoing.format_approver", "user", user.id, {"enabled": bool(enabled)})
    return user


# ---- helpers shared with signing and issuing ----------------------------------------------------------------

def _event(draft, user, kind, text, local, version=None) -> DraftEvent:
    return DraftEvent.create(draft=draft, version=version, user=user, kind=kind, text=text or "", created_at=local)


def _version(draft, number) -> DraftVersion:
    version = DraftVersion.get_or_none((DraftVersion.draft == draft.id) & (DraftVersion.number == number))
    if version is None:
        raise Invalid(f"Không có phiên bản {number}.", code="invalid:version", field="version")
    return version


def version_files(version: DraftVersion) -> list[DraftFile]:
    return list(DraftFile.select().where(DraftFile.version == version.id).order_by(DraftFile.position))


def _store_files(ctx, version, uploads, local) -> list[str]:
    created = []
    for i, up in enumerate(uploads):
        sha, size = up.staged.sha256, up.staged.size
        if ctx.blobs.commit(up.staged):
            created.append(sha)
        Blob.insert(sha256=sha, size=size, created_at=local).on_conflict_ignore().execute()
        DraftFile.create(version=version, role="main" if i == 0 else "attachment", position=i, blob=sha,
                         filename=up.filename, content_type=up.content_type, size=size)
    return created


def _copy_files(source, target, roles=("main", "attachment")) -> None:
    for f in version_files(source):
        if f.role in roles:
            DraftFile.create(version=target, role=f.role, position=f.position, blob=f.blob_id, filename=f.filename,
                             content_type=f.content_type, size=f.size)


def _save_recipients(draft, rows) -> None:
    for r in rows:
        DraftRecipient.create(draft=draft, kind=r["kind"], department=r.get("department"), user=r.get("user"),
                              organ_id=r.get("organ_id"), name=r["name"][:200], purpose=r["purpose"])


def _recipient_rows(draft) -> list[dict]:
    return [{"kind": r.kind} for r in DraftRecipient.select().where(DraftRecipient.draft == draft.id)]


def event(draft, user, kind, text, local, version=None) -> DraftEvent:
    return _event(draft, user, kind, text, local, version)


def require_status(draft, *allowed) -> None:
    _require_status(draft, *allowed)


def get_version(draft, number) -> DraftVersion:
    return _version(draft, number)
