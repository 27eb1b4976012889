"""Check an archive package the way a receiving archive would: the root METS.xml against the official METS
schema (METS 1.12.1 from the Library of Congress, as shipped in the `metsrw` package; its XLink import is
served from our own xlink.xsd so validation never touches the network), then the E-ARK CSIP points the
schema cannot express: every file listed exists with the stated size and SHA-256, every file in the package
is listed, the profile, structMap "CSIP" and ISO 8601 times with +07:00."""
from __future__ import annotations

import hashlib
import io
import zipfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lxml import etree

from .sip import CSIP, METS, XLINK

XLINK_XSD = Path(__file__).with_name("xlink.xsd")
_XLINK_URLS = ("http://www.loc.gov/standards/xlink/xlink.xsd", "https://www.loc.gov/standards/xlink/xlink.xsd")


class SchemaUnavailable(RuntimeError):
    pass


class _LocalXlink(etree.Resolver):
    def resolve(self, url, pubid, context):
        if url in _XLINK_URLS or url.endswith("/xlink.xsd"):
            return self.resolve_filename(str(XLINK_XSD), context)
        return None


def mets_xsd_path() -> Path:
    try:
        path = resources.files("metsrw") / "resources" / "mets.xsd"
    except ModuleNotFoundError:
        raise SchemaUnavailable("the METS schema comes from the `metsrw` package: pip install metsrw") from None
    if not path.is_file():
        raise SchemaUnavailable(f"{path} is missing")
    return Path(str(path))


@lru_cache(maxsize=1)
def mets_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_LocalXlink())
    doc = etree.parse(str(mets_xsd_path()), parser)
    return etree.XMLSchema(doc)


def _safe_parser():
    return etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)


def validate_mets(data: bytes) -> list[str]:
    try:
        doc = etree.fromstring(data, _safe_parser())
    except etree.XMLSyntaxError as exc:
        return [f"METS.xml is not well-formed: {exc}"]
    schema = mets_schema()
    if schema.validate(doc):
        return []
    return [f"METS.xml line {e.line}: {e.message}" for e in schema.error_log][:50]


def _listed_files(doc) -> list[tuple[str, etree._Element]]:
    out = []
    for el in doc.iter(f"{{{METS}}}file", f"{{{METS}}}mdRef"):
        loc = el if el.tag == f"{{{METS}}}mdRef" else el.find(f"{{{METS}}}FLocat")
        href = loc.get(f"{{{XLINK}}}href") if loc is not None else None
        out.append((href or "", el))
    return out


def _check_times(doc) -> list[str]:
    problems = []
    for el in doc.iter():
        for attr in ("CREATED", "CREATEDATE", "LASTMODDATE"):
            value = el.get(attr)
            if value is not None and not value.endswith("+07:00"):
                problems.append(f"{attr}={value}: ISO 8601 with +07:00 expected")
    return problems


def _check_csip(doc) -> list[str]:
    problems = []
    if not doc.get("OBJID"):
        problems.append("mets/@OBJID missing (CSIP1)")
    if not (doc.get("PROFILE") or "").startswith("https://earkcsip.dilcis.eu/profile/"):
        problems.append("mets/@PROFILE is not an E-ARK profile")
    hdr = doc.find(f"{{{METS}}}metsHdr")
    if hdr is None or hdr.get(f"{{{CSIP}}}OAISPACKAGETYPE") not in ("SIP", "AIP", "DIP"):
        problems.append("metsHdr/@csip:OAISPACKAGETYPE missing")
    if not doc.xpath("m:structMap[@TYPE='PHYSICAL' and @LABEL='CSIP']", namespaces={"m": METS}):
        problems.append("no structMap TYPE=PHYSICAL LABEL=CSIP")
    return problems


def validate_package(zip_bytes: bytes) -> list[str]:
    """Problems found (an empty list: the package is valid)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(zip_bytes))
    except zipfile.BadZipFile:
        return ["not a ZIP file"]
    names = [n for n in zf.namelist() if not n.endswith("/")]
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) != 1:
        return ["a package is one folder named after its OBJID"]
    root = roots.pop()
    mets_name = f"{root}/METS.xml"
    if mets_name not in names:
        return ["METS.xml missing at the package root"]
    data = zf.read(mets_name)
    problems = validate_mets(data)
    if problems and problems[0].startswith("METS.xml is not well-formed"):
        return problems
    doc = etree.fromstring(data, _safe_parser())
    if doc.get("OBJID") != root:
        problems.append(f"folder {root} does not match OBJID {doc.get('OBJID')}")
    problems += _check_csip(doc) + _check_times(doc)
    listed = set()
    for href, el in _listed_files(doc):
        member = f"{root}/{href}"
        listed.add(member)
        if el.get("CHECKSUMTYPE") != "SHA-256":
            problems.append(f"{href}: CHECKSUMTYPE must be SHA-256")
        if member not in names:
            problems.append(f"{href}: listed in METS but not in the package")
            continue
        content = zf.read(member)
        if hashlib.sha256(content).hexdigest() != el.get("CHECKSUM"):
            problems.append(f"{href}: SHA-256 does not match")
        if str(len(content)) != el.get("SIZE"):
            problems.append(f"{href}: SIZE does not match")
    for extra in sorted(set(names) - listed - {mets_name}):
        problems.append(f"{extra}: in the package but not listed in METS")
    return problems
