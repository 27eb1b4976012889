"""The archive package (gói tin lưu trữ, TT 05/2025/TT-BNV) of a dossier, after E-ARK CSIP 2.0.4 / SIP:

    <OBJID>/METS.xml                                 root METS: files with SHA-256 checksums, structMap "CSIP"
    <OBJID>/metadata/descriptive/ead.xml             EAD 3 (minimal): the dossier and its documents
    <OBJID>/metadata/preservation/premis.xml         PREMIS 3 (minimal): objects with fixity, the creation event
    <OBJID>/documentation/muc-luc.pdf, ho-so.xml     the catalogue and the Phụ lục VI metadata
    <OBJID>/representations/rep1/data/NNN-...        the documents' files, oldest document first

Times are ISO 8601 with +07:00. The package is a ZIP whose bytes depend only on its content (fixed member
times), so building it twice gives the same checksum."""
from __future__ import annotations

import hashlib
import io
import re
import uuid
import zipfile
from dataclasses import dataclass

from lxml import etree

from .. import __version__
from .export import DocFiles, catalogue_report, dossier_xml, iso
from .premis_ead import ead_xml, premis_xml

METS = "http://www.loc.gov/METS/"
XLINK = "http://www.w3.org/1999/xlink"
CSIP = "https://DILCIS.eu/XML/METS/CSIPExtensionMETS"
SIP = "https://DILCIS.eu/XML/METS/SIPExtensionMETS"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
PROFILE = "https://earkcsip.dilcis.eu/profile/E-ARK-SIP.xml"
_ZIP_TIME = (2025, 7, 1, 0, 0, 0)  # TT 05/2025 took effect; any fixed time keeps the ZIP reproducible


@dataclass
class PackedFile:
    path: str  # inside the package folder
    data: bytes
    mimetype: str
    created: str  # ISO 8601 +07:00

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def object_id(dossier) -> str:
    # urn:uuid derived from agency + year + file code: the same dossier always gets the same package id.
    return "uuid-" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"vanban:{dossier.agency.code}:{dossier.year}:"
                                                        f"{dossier.file_code}"))


def _safe(name: str) -> str:
    name = re.sub(r"[^0-9A-Za-z._-]+", "_", name).strip("._") or "file"
    return name[:80]


def _content_files(blobs, items: list[DocFiles]) -> list[PackedFile]:
    out = []
    for order, it in enumerate(items, 1):
        for a, _pages in it.files:
            data = blobs.path(a.blob_id).read_bytes()
            out.append(PackedFile(f"representations/rep1/data/{order:03d}-{a.id}-{_safe(a.filename)}", data,
                                  a.content_type, iso(a.created_at)))
    return out


def build_sip(blobs, dossier, items: list[DocFiles], *, now, creator: str) -> tuple[str, bytes]:
    """Returns (package id, ZIP bytes)."""
    from ..reports import render_pdf

    objid = object_id(dossier)
    created = iso(now)
    content = _content_files(blobs, items)
    docs = [PackedFile("documentation/muc-luc.pdf", render_pdf(catalogue_report(dossier, dossier.agency.name, items)),
                       "application/pdf", created),
            PackedFile("documentation/ho-so.xml", dossier_xml(dossier, items, creator=creator), "text/xml", created)]
    ead = PackedFile("metadata/descriptive/ead.xml", ead_xml(dossier, items, objid, created), "text/xml", created)
    premis = PackedFile("metadata/preservation/premis.xml",
                        premis_xml(content + docs, objid, created, agent=f"vanban {__version__}"), "text/xml", created)
    mets = mets_xml(dossier, objid, created, ead, premis, docs, content, items)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in [PackedFile("METS.xml", mets, "text/xml", created), ead, premis, *docs, *content]:
            info = zipfile.ZipInfo(f"{objid}/{f.path}", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, f.data)
    return objid, buf.getvalue()


def _m(parent, tag, **attrs):
    return etree.SubElement(parent, f"{{{METS}}}{tag}", {k: str(v) for k, v in attrs.items()})


def _checksum_attrs(f: PackedFile) -> dict:
    return {"MIMETYPE": f.mimetype, "SIZE": len(f.data), "CREATED": f.created, "CHECKSUM": f.sha256,
            "CHECKSUMTYPE": "SHA-256"}


def _md_ref(parent, f: PackedFile, mdtype: str):
    ref = _m(parent, "mdRef", LOCTYPE="URL", MDTYPE=mdtype, **_checksum_attrs(f))
    ref.set(f"{{{XLINK}}}type", "simple")
    ref.set(f"{{{XLINK}}}href", f.path)
    return ref


def _header(root, created, dossier, creator):
    hdr = _m(root, "metsHdr", CREATEDATE=created, LASTMODDATE=created, RECORDSTATUS="NEW")
    hdr.set(f"{{{CSIP}}}OAISPACKAGETYPE", "SIP")
    agents = [("CREATOR", "OTHER", "SOFTWARE", "vanban", f"{__version__}"),
              ("ARCHIVIST", "ORGANIZATION", None, dossier.agency.name, dossier.agency.code),
              ("CREATOR", "INDIVIDUAL", None, creator, None)]
    for role, kind, other, name, note in agents:
        attrs = {"ROLE": role, "TYPE": kind}
        if other:
            attrs["OTHERTYPE"] = other
        agent = _m(hdr, "agent", **attrs)
        _m(agent, "name").text = name
        if note:
            n = _m(agent, "note")
            n.text = note
            n.set(f"{{{CSIP}}}NOTETYPE", "SOFTWARE VERSION" if other else "IDENTIFICATIONCODE")


def mets_xml(dossier, objid, created, ead, premis, docs, content, items) -> bytes:
    root = etree.Element(f"{{{METS}}}mets", nsmap={"mets": METS, "xlink": XLINK, "csip": CSIP, "sip": SIP,
                                                    "xsi": XSI})
    root.set("OBJID", objid)
    root.set("TYPE", "Mixed")
    root.set("LABEL", f"{dossier.file_code} {dossier.title}"[:250])
    root.set("PROFILE", PROFILE)
    root.set(f"{{{CSIP}}}CONTENTINFORMATIONTYPE", "MIXED")
    _header(root, created, dossier, dossier.owner.full_name)
    dmd = _m(root, "dmdSec", ID="dmd-ead", CREATED=created, STATUS="CURRENT")
    _md_ref(dmd, ead, "EAD")
    amd = _m(root, "amdSec", ID="amd-1")
    _md_ref(_m(amd, "digiprovMD", ID="digiprov-premis", STATUS="CURRENT"), premis, "PREMIS")
    file_sec = _m(root, "fileSec", ID="filesec-1")
    ids = {}
    for use, group in (("Documentation", docs), ("Representations/rep1", content)):
        grp = _m(file_sec, "fileGrp", USE=use, ID=f"grp-{len(ids)}")
        for f in group:
            fid = f"file-{len(ids) + 1}"
            ids[f.path] = fid
            el = _m(grp, "file", ID=fid, **_checksum_attrs(f))
            loc = _m(el, "FLocat", LOCTYPE="URL")
            loc.set(f"{{{XLINK}}}type", "simple")
            loc.set(f"{{{XLINK}}}href", f.path)
    smap = _m(root, "structMap", TYPE="PHYSICAL", LABEL="CSIP", ID="structmap-1")
    top = _m(smap, "div", ID="div-root", LABEL=objid)
    _m(top, "div", ID="div-metadata", LABEL="Metadata", ADMID="digiprov-premis", DMDID="dmd-ead")
    doc_div = _m(top, "div", ID="div-documentation", LABEL="Documentation")
    for f in docs:
        _m(doc_div, "fptr", FILEID=ids[f.path])
    rep = _m(top, "div", ID="div-rep1", LABEL="Representations/rep1")
    by_doc = {}
    for f in content:
        order = int(f.path.rsplit("/", 1)[1][:3])
        by_doc.setdefault(order, []).append(f)
    for order, it in enumerate(items, 1):
        d = it.document
        div = _m(rep, "div", ID=f"div-doc-{order}", ORDER=order, LABEL=f"{d.number}/{d.notation} {d.subject}"[:250])
        for f in by_doc.get(order, []):
            _m(div, "fptr", FILEID=ids[f.path])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
