"""Minimal EAD 3 (descriptive) and PREMIS 3 (preservation) metadata for the archive package. Only the fields
an archive needs to ingest and check the package; neither is validated against its own schema here (no offline
copy of the EAD 3 or PREMIS 3 XSD is packaged for Debian or PyPI), only for well-formedness and content."""
from __future__ import annotations

from lxml import etree

from ..core.doctypes import TYPE_NAMES
from .export import iso

EAD = "http://ead3.archivists.org/schema/"
PREMIS = "http://www.loc.gov/premis/v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _e(parent, ns, tag, text=None, **attrs):
    el = etree.SubElement(parent, f"{{{ns}}}{tag}", {k: str(v) for k, v in attrs.items()})
    if text not in (None, ""):
        el.text = str(text)
    return el


def ead_xml(dossier, items, objid, created) -> bytes:
    root = etree.Element(f"{{{EAD}}}ead", nsmap={None: EAD})
    control = _e(root, EAD, "control")
    _e(control, EAD, "recordid", objid)
    title = _e(_e(control, EAD, "filedesc"), EAD, "titlestmt")
    _e(title, EAD, "titleproper", dossier.title)
    _e(control, EAD, "maintenancestatus", value="new")
    agency = _e(control, EAD, "maintenanceagency")
    _e(agency, EAD, "agencycode", dossier.agency.code)
    _e(agency, EAD, "agencyname", dossier.agency.name)
    event = _e(_e(control, EAD, "maintenancehistory"), EAD, "maintenanceevent")
    _e(event, EAD, "eventtype", value="created")
    _e(event, EAD, "eventdatetime", created, standarddatetime=created)
    _e(event, EAD, "agenttype", value="machine")
    _e(event, EAD, "agent", "vanban")
    arch = _e(root, EAD, "archdesc", level="file")
    did = _e(arch, EAD, "did")
    _e(did, EAD, "unitid", dossier.file_code)
    _e(did, EAD, "unittitle", dossier.title)
    if dossier.start_date and dossier.end_date:
        _e(did, EAD, "unitdate", f"{dossier.start_date:%d/%m/%Y} - {dossier.end_date:%d/%m/%Y}",
           normal=f"{iso(dossier.start_date)}/{iso(dossier.end_date)}")
    _e(did, EAD, "physdesc", f"{len(items)} văn bản, {sum(i.pages for i in items)} trang")
    dsc = _e(arch, EAD, "dsc")
    for order, it in enumerate(items, 1):
        d = it.document
        c = _e(dsc, EAD, "c", level="item", id=f"doc-{order}")
        cdid = _e(c, EAD, "did")
        _e(cdid, EAD, "unitid", f"{d.number}/{d.notation}")
        _e(cdid, EAD, "unittitle", f"{TYPE_NAMES.get(d.doc_type, '')} {d.subject}".strip())
        if d.doc_date:
            _e(cdid, EAD, "unitdate", f"{d.doc_date:%d/%m/%Y}", normal=iso(d.doc_date))
        _e(cdid, EAD, "origination", d.issuer_name or d.agency.name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def premis_xml(files, objid, created, *, agent: str) -> bytes:
    root = etree.Element(f"{{{PREMIS}}}premis", nsmap={"premis": PREMIS, "xsi": XSI}, version="3.0")
    for f in files:
        obj = _e(root, PREMIS, "object")
        obj.set(f"{{{XSI}}}type", "premis:file")
        ident = _e(obj, PREMIS, "objectIdentifier")
        _e(ident, PREMIS, "objectIdentifierType", "local")
        _e(ident, PREMIS, "objectIdentifierValue", f"{objid}/{f.path}")
        chars = _e(obj, PREMIS, "objectCharacteristics")
        fixity = _e(chars, PREMIS, "fixity")
        _e(fixity, PREMIS, "messageDigestAlgorithm", "SHA-256")
        _e(fixity, PREMIS, "messageDigest", f.sha256)
        _e(chars, PREMIS, "size", len(f.data))
        fmt = _e(_e(chars, PREMIS, "format"), PREMIS, "formatDesignation")
        _e(fmt, PREMIS, "formatName", f.mimetype)
    event = _e(root, PREMIS, "event")
    eid = _e(event, PREMIS, "eventIdentifier")
    _e(eid, PREMIS, "eventIdentifierType", "local")
    _e(eid, PREMIS, "eventIdentifierValue", f"{objid}-creation")
    _e(event, PREMIS, "eventType", "creation")
    _e(event, PREMIS, "eventDateTime", created)
    link = _e(event, PREMIS, "linkingAgentIdentifier")
    _e(link, PREMIS, "linkingAgentIdentifierType", "local")
    _e(link, PREMIS, "linkingAgentIdentifierValue", "vanban")
    ag = _e(root, PREMIS, "agent")
    aid = _e(ag, PREMIS, "agentIdentifier")
    _e(aid, PREMIS, "agentIdentifierType", "local")
    _e(aid, PREMIS, "agentIdentifierValue", "vanban")
    _e(ag, PREMIS, "agentName", agent)
    _e(ag, PREMIS, "agentType", "software")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
