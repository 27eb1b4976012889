"""Fuzzing the edXML parser: whatever bytes arrive from the hub, parse() returns a Package/StatusMessage or
raises EdxmlError, never anything else (a worker must never crash on a package).

Seeds live in tests/edxml_corpus/ (valid signed packages and hostile ones). The signing key used to make them
was thrown away; the seeds embed only its self-signed certificate, which the tests pin as trusted.
Regenerate the corpus with `.venv/bin/python tests/test_edxml_fuzz.py` (new key, same content).

VANBAN_FUZZ_EXAMPLES raises the number of examples (default 200, a few seconds).
"""

import base64
import datetime as dt
import os
import re
from functools import lru_cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner

from vanban.exchange import (
    Attachment,
    EdxmlError,
    Organization,
    Package,
    ResponseFor,
    StatusMessage,
    TraceHeader,
    build_package,
    build_status,
    parse,
    peek,
)
from vanban.exchange.codes import VN_TZ
from vanban.exchange.edxml import NS

CORPUS = Path(__file__).parent / "edxml_corpus"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXAMPLES = int(os.environ.get("VANBAN_FUZZ_EXAMPLES", "200"))
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)

# What each seed must give: None = parses, otherwise the refusal code.
EXPECTED = {
    "package_signed.xml": None,
    "package_sha1.xml": None,
    "package_unprefixed.xml": None,
    "package_unknown_elements.xml": None,
    "status_signed.xml": None,
    "status_unknown_code_dmy_timestamp.xml": None,
    "hostile_billion_laughs.xml": "xml_entities",
    "hostile_xxe_file.xml": "xml_entities",
    "hostile_xxe_parameter_entity.xml": "xml_entities",
    "hostile_external_dtd.xml": "xml_entities",
    "hostile_deep_nesting.xml": "xml_too_deep",
    "hostile_utf16.xml": "xml_encoding",
    "hostile_two_envelopes.xml": "xml_structure",
    "hostile_unsigned.xml": "signature_missing",
    "hostile_tampered_subject.xml": "signature_invalid",
    "hostile_tampered_attachment.xml": "attachment_tampered",
    "hostile_bad_base64.xml": "attachment_encoding",
    "hostile_truncated.xml": "xml_malformed",
}


@lru_cache(maxsize=1)
def seeds() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(CORPUS.glob("*.xml"))}


@lru_cache(maxsize=1)
def corpus_cert() -> x509.Certificate:
    root = etree.fromstring(seeds()["package_signed.xml"], SAFE)
    der = base64.b64decode(next(root.iter(f"{{{DS}}}X509Certificate")).text)
    return x509.load_der_x509_certificate(der)


@lru_cache(maxsize=1)
def fuzz_signer():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, self_signed(key, "Fuzz signer")


def self_signed(key, cn):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365 * 50))
            .sign(key, hashes.SHA256()))


def resign(data: bytes, key, cert, *, edit=None, signer=None) -> bytes:
    """Sign again after ``edit(root)``: the content a (legitimate or rogue) trusted sender could produce."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, huge_tree=True))
    for sig in list(root.iter(f"{{{DS}}}Signature")):
        sig.getparent().remove(sig)
    if edit:
        edit(root)
    envelope = next(el for el in root.iter() if etree.QName(el).localname == "edXMLEnvelope")
    header = next(el for el in envelope if etree.QName(el).localname == "edXMLHeader")
    etree.SubElement(header, f"{{{DS}}}Signature", Id="placeholder", nsmap={"ds": DS})
    signer = signer or XMLSigner(c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signed = signer.sign(etree.fromstring(etree.tostring(envelope)), key=key, cert=[cert])
    if envelope is root:
        return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    root.replace(envelope, signed)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def parse_or_refuse(data: bytes):
    try:
        result = parse(data, trusted_certs=[corpus_cert(), fuzz_signer()[1]], max_bytes=1 << 20,
                       max_attachment_bytes=1 << 19)
    except EdxmlError as exc:
        assert exc.code and exc.reason
        return exc
    assert isinstance(result, (Package, StatusMessage))
    return result


# ---------------------------------------------------------------------------------------------- seeds
def test_corpus_is_complete():
    assert set(seeds()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_seed_gives_its_expected_outcome(name):
    result = parse_or_refuse(seeds()[name])
    if EXPECTED[name] is None:
        assert not isinstance(result, EdxmlError), result
    else:
        assert isinstance(result, EdxmlError) and result.code == EXPECTED[name], result


# ---------------------------------------------------------------------------------------------- byte mutations
ELEMENT = re.compile(rb"<((?:edXML:|ds:)?)(\w+)\b[^>]*>.*?</\1\2>", re.S)
SNIPPETS = [b"<!DOCTYPE x [<!ENTITY a \"b\">]>", b"&a;", b"&amp;", b"&#0;", b"&#x10FFFF;", b"<![CDATA[x]]>",
            b"]]>", b"<?pi x?>", b"<!-- c -->", b"\x00", b"\xff\xfe", b"<edXML:Foo>bar</edXML:Foo>",
            b"<edXML:edXMLEnvelope>", b"</edXML:edXMLHeader>", b'xmlns=""', b"=", b"====", b"9" * 30,
            b"<ds:Signature/>", "Đô Lương".encode(), b"2024/02/30 25:61:61", b"\r\n\t "]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(sorted(seeds().items())))[1])
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "flip", "flip", "truncate", "delete", "duplicate", "insert"]))
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from(SNIPPETS))
        else:
            spans = [m.span() for m in ELEMENT.finditer(bytes(data))]
            if spans:
                start, end = draw(st.sampled_from(spans))
                data[start:end] = b"" if kind == "delete" else data[start:end] * 2
    return bytes(data)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_bytes_never_crash_the_parser(data):
    parse_or_refuse(data)
    try:
        peek(data, max_bytes=1 << 20)
    except EdxmlError:
        pass


# ---------------------------------------------------------------------------------------------- signed mutations
# Byte mutations mostly stop at the signature. These edits are re-signed by a trusted key, so they reach the
# field-reading code behind it: what a buggy (but trusted) sender could send.
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=60)


@st.composite
def resigned(draw):
    name = draw(st.sampled_from([n for n, code in sorted(EXPECTED.items()) if code is None]))
    root = etree.fromstring(seeds()[name], SAFE)
    envelope = next(el for el in root.iter() if etree.QName(el).localname == "edXMLEnvelope")
    candidates = [el for el in envelope.iter() if isinstance(el.tag, str)
                  and etree.QName(el).namespace != DS and el is not envelope]
    edits = []
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(candidates) - 1))
        kind = draw(st.sampled_from(["text", "delete", "duplicate", "child", "pi", "comment"]))
        edits.append((index, kind, draw(TEXT)))

    def edit(tree):
        env = next(el for el in tree.iter() if etree.QName(el).localname == "edXMLEnvelope")
        elements = [el for el in env.iter() if isinstance(el.tag, str)
                    and etree.QName(el).namespace != DS and el is not env]
        for index, kind, text in edits:
            el = elements[index % len(elements)]
            if el.getparent() is None or not any(el is e for e in env.iter()):
                continue
            if kind == "text":
                el.text = text
            elif kind == "delete" and etree.QName(el).localname != "edXMLHeader":  # the signature goes there
                el.getparent().remove(el)
            elif kind == "duplicate":
                el.addnext(etree.fromstring(etree.tostring(el)))
            elif kind == "pi":
                el.insert(0, etree.ProcessingInstruction("fuzz", text.replace("?>", "")))
            elif kind == "comment":
                el.insert(0, etree.Comment(text.replace("--", "").rstrip("-")))
            else:
                etree.SubElement(el, f"{{{NS}}}Fuzz").text = text
    key, cert = fuzz_signer()
    return resign(seeds()[name], key, cert, edit=edit)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resigned())
def test_signed_but_mangled_content_never_crashes_the_parser(data):
    parse_or_refuse(data)


# ---------------------------------------------------------------------------------------------- regeneration
def _sample_package(**overrides):
    values = dict(
        from_org=Organization("H37.02", "UBND huyện Đô Lương"),
        to_orgs=[Organization("000.00.00.H41", "UBND tỉnh Nghệ An")],
        code_number="07", code_notation="UBND-VX", promulgation_date=dt.date(2024, 4, 1),
        type_name="Công văn", subject="Về việc tổ chức Tết Trồng cây", content="Nội dung tóm tắt.",
        trace_headers=[TraceHeader("H37.02", dt.datetime(2024, 4, 1, 10, 0, tzinfo=VN_TZ))],
        attachments=[Attachment("cid-1", "07-UBND-VX.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"0" * 200),
                     Attachment("cid-2", "phu-luc.docx", b"PK\x03\x04" + b"\x01" * 100,
                                "application/vnd.openxmlformats-officedocument.wordprocessingml.document")])
    values.update(overrides)
    return Package(**values)


def _hostile_dtds(signed: bytes) -> dict[str, bytes]:
    body = signed.split(b"?>", 1)[1]
    laughs = b"".join(b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10 if i else b"lol") for i in range(10))
    decl = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    return {
        "hostile_billion_laughs.xml": decl + b"<!DOCTYPE edXML [" + laughs + b"]>\n"
        + body.replace("Tết Trồng cây".encode(), b"&l9;"),
        "hostile_xxe_file.xml": decl + b'<!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        + body.replace("Tết Trồng cây".encode(), b"&x;"),
        "hostile_xxe_parameter_entity.xml": decl + b'<!DOCTYPE edXML [<!ENTITY % p SYSTEM '
        b'"http://127.0.0.1:9/evil.dtd"> %p;]>\n' + body,
        "hostile_external_dtd.xml": decl + b'<!DOCTYPE edXML SYSTEM "http://127.0.0.1:9/edxml.dtd">\n' + body,
    }


def regenerate() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed(key, "Corpus signer (key discarded)")
    signed = build_package(_sample_package(), key, [cert])
    status = build_status(StatusMessage(
        response_for=ResponseFor("H37.02", "07/UBND-VX", dt.date(2024, 4, 1), "H37.02,2024/04/01,07/UBND-VX"),
        from_org=Organization("000.00.00.H41", "UBND tỉnh Nghệ An"), status_code="01",
        timestamp=dt.datetime(2024, 4, 1, 10, 5, tzinfo=VN_TZ)), key, [cert])

    def unknown(root):
        mh = next(root.iter(f"{{{NS}}}MessageHeader"))
        etree.SubElement(mh, f"{{{NS}}}SecurityLevel").text = "0"
        etree.SubElement(root, f"{{{NS}}}Extension").text = "x"

    def status_edit(root):
        next(root.iter(f"{{{NS}}}StatusCode")).text = "99"
        next(root.iter(f"{{{NS}}}Timestamp")).text = "01/04/2024 10:05:00"

    class Sha1Signer(XMLSigner):
        def check_deprecated_methods(self):
            pass

    sha1 = Sha1Signer(signature_algorithm=SignatureMethod.RSA_SHA1, digest_algorithm=DigestAlgorithm.SHA1,
                      c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0)
    unprefixed = etree.fromstring(signed.decode().replace("edXML:", "").replace("xmlns:edXML=", "xmlns=")
                                  .encode(), SAFE)
    head, _, tail = signed.partition(b"<edXML:AttachmentEncoded>")
    tail = b"<edXML:AttachmentEncoded>" + tail  # change file bytes only, never the certificate's base64
    two = etree.fromstring(signed, SAFE)
    two.insert(0, etree.fromstring(etree.tostring(two[0])))
    files = {
        "package_signed.xml": signed,
        "package_sha1.xml": resign(signed, key, cert, signer=sha1),
        "package_unprefixed.xml": resign(etree.tostring(unprefixed), key, cert),
        "package_unknown_elements.xml": resign(signed, key, cert, edit=unknown),
        "status_signed.xml": status,
        "status_unknown_code_dmy_timestamp.xml": resign(status, key, cert, edit=status_edit),
        "hostile_deep_nesting.xml": b"<edXML>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</edXML>",
        "hostile_utf16.xml": signed.replace(b"encoding='UTF-8'", b"encoding='UTF-16'").decode().encode("utf-16"),
        "hostile_two_envelopes.xml": etree.tostring(two, xml_declaration=True, encoding="UTF-8"),
        "hostile_unsigned.xml": re.sub(rb"<ds:Signature\b.*?</ds:Signature>", b"", signed, flags=re.S),
        "hostile_tampered_subject.xml": signed.replace("Trồng cây".encode(), "Trồng rừng".encode()),
        "hostile_tampered_attachment.xml": head + tail.replace(b"MDAwMDAw", b"MDAwMDEw", 1),
        "hostile_bad_base64.xml": head + tail.replace(b"MDAwMDAw", b"MDA*MDAw", 1),
        "hostile_truncated.xml": signed[: len(signed) * 2 // 3],
        **_hostile_dtds(signed),
    }
    CORPUS.mkdir(exist_ok=True)
    for name, data in files.items():
        (CORPUS / name).write_bytes(data)


if __name__ == "__main__":
    regenerate()
    print(f"wrote {len(list(CORPUS.glob('*.xml')))} files to {CORPUS}")
