"""PAdES signatures on outgoing documents, laid out as NĐ 30/2020 Phụ lục I asks.

* :func:`sign_as_person` — the competent person signs: a visible block with the authority line,
  the blue signature image centred between title and name. In the same (signed) revision it adds two
  empty read-only text fields, number/notation and issue date, for the văn thư to fill later.
* :func:`apply_agency_seal` — the văn thư fills those two fields and adds the agency signature whose
  appearance is the red seal at real size, overlapping the left third of the signer's image. Filling
  existing fields plus a new signature is "form filling" in an incremental update (ISO 32000 12.8.2.2),
  which keeps the person's signature valid — unlike drawing new page content, which would not.
* :func:`stamp_attachment` — agency signature on a separate attachment, top-right of page 1, text
  only (number/notation + ISO 8601 time at +07:00), Times New Roman 10 (Liberation Serif), black.
* :func:`verify_pdf` — per-signature report (who, when, chain, revocation, integrity, later changes).

Coordinates in the public API are millimetres from the top-left corner of the page, as in the template.

Modules: ``issue`` (the three signing acts), ``placement`` (boxes, fields, positions), ``appearance`` (font,
images, the signature block), ``engine`` (pyHanko signing), ``verify`` (verification). Callers import from
``vanban.signing.pdf`` only.
"""

from __future__ import annotations

from .appearance import font
from .issue import apply_agency_seal, sign_as_person, stamp_attachment
from .placement import (
    ATTACHMENT_FIELD,
    DATE_FIELD,
    DEFAULT_DATE_BOX,
    DEFAULT_NUMBER_BOX,
    IMAGE_MARK,
    MM,
    NUMBER_FIELD,
    NUMBER_RE,
    PERSON_FIELD,
    PREFIXES,
    SEAL_FIELD,
    SEAL_MM,
    VN_TZ,
    Box,
    issue_date_text,
)
from .verify import BENIGN_REASONS, PROBLEMS, SignatureReport, VerificationReport, verify_pdf

__all__ = [
    "ATTACHMENT_FIELD", "BENIGN_REASONS", "DATE_FIELD", "DEFAULT_DATE_BOX", "DEFAULT_NUMBER_BOX", "IMAGE_MARK", "MM",
    "NUMBER_FIELD", "NUMBER_RE", "PERSON_FIELD", "PREFIXES", "PROBLEMS", "SEAL_FIELD", "SEAL_MM", "VN_TZ", "Box",
    "SignatureReport", "VerificationReport", "apply_agency_seal", "font", "issue_date_text", "sign_as_person",
    "stamp_attachment", "verify_pdf",
]
