"""The agency PKI on real files: layout, encryption at rest, certificate profile, CRLs, CLI."""

import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from vanban.signing import SigningError
from vanban.signing.cli import main as pki_main
from vanban.signing.pki import OID_DOCUMENT_SIGNING, Pki, load_signer

NOW = datetime(2025, 11, 20, 1, 0, tzinfo=UTC)
CODE = "H37.02.02"
AGENCY = "Ủy ban nhân dân huyện Kỳ Anh"
PW = {"root": "root-pass-123", "ca": "ca-pass-1234", "person": "person-pass", "seal": "seal-pass-1"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    # 2048-bit CA keys keep the module fast; production defaults to 3072.
    p = Pki(tmp_path_factory.mktemp("pki") / "pki", clock=lambda: NOW, ca_key_bits=2048)
    p.init_root("CA gốc tỉnh Hà Tĩnh", PW["root"])
    p.issue_agency_ca(CODE, AGENCY, root_passphrase=PW["root"], passphrase=PW["ca"])
    return p


@pytest.fixture(scope="module")
def person(pki):
    return pki.issue_person(CODE, "nva", "Nguyễn Văn Ánh", "Phó Chủ tịch", ca_passphrase=PW["ca"],
                            passphrase=PW["person"], unit="Văn phòng")


def test_files_are_private_and_keys_encrypted(pki, person):
    assert stat.S_IMODE(pki.dir.stat().st_mode) == 0o700
    for path in pki.dir.rglob("*"):
        if path.suffix in (".p12", ".pem") and "key" in path.name or path.suffix == ".p12":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert not path.name.startswith(".tmp-"), "atomic write left a temp file"
    root_key = (pki.dir / "root" / "ca.key.pem").read_bytes()
    assert root_key.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):  # needs a password: it is not in the clear
        serialization.load_pem_private_key(root_key, None)
    p12 = (pki.dir / person["path"]).read_bytes()
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(p12, None)
    everything = b"".join(p.read_bytes() for p in pki.dir.rglob("*") if p.is_file())
    for secret in PW.values():
        assert secret.encode() not in everything


def test_person_certificate_profile(pki, person):
    cert = x509.load_pem_x509_certificate((pki.dir / person["cert_file"]).read_bytes())
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.content_commitment and ku.value.digital_signature
    assert not ku.value.key_cert_sign
    assert OID_DOCUMENT_SIGNING in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == CODE
    # Vietnamese names are UTF8String in the DER, not T61/BMP
    subject = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)).subject
    kinds = {rdn[0]["type"].native: rdn[0]["value"].name for rdn in subject.chosen}
    assert kinds["common_name"] == kinds["organization_name"] == kinds["title"] == "utf8_string"
    assert person["subject"] == "Nguyễn Văn Ánh"
    chain = pki.load_signer(person["serial"], PW["person"]).chain
    assert [c.subject for c in chain] == [pki.ca_cert(CODE).subject, pki.ca_cert("root").subject]


@pytest.mark.parametrize("code", ["h37..02", "H37 02", "A" * 36, ""])
def test_agency_code_rules(pki, code):
    with pytest.raises(SigningError) as err:
        pki.issue_agency_ca(code, "X", root_passphrase=PW["root"], passphrase=PW["ca"])
    assert err.value.code == "agency_code_invalid"


def test_old_style_and_long_codes_accepted(pki):
    pki.issue_agency_ca("000.00.00.H41", "UBND tỉnh Nghệ An", root_passphrase=PW["root"], passphrase=PW["ca"])
    long_code = "H37." + "1" * 31
    pki.issue_agency_ca(long_code.lower(), "Cơ quan", root_passphrase=PW["root"], passphrase=PW["ca"])
    assert pki.ca_cert(long_code).subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == long_code
    with pytest.raises(SigningError) as err:
        pki.issue_agency_ca(long_code, "Trùng", root_passphrase=PW["root"], passphrase=PW["ca"])
    assert err.value.code == "agency_exists"


def test_wrong_and_weak_passphrases(pki, person, tmp_path):
    with pytest.raises(SigningError) as err:
        pki.load_signer(person["serial"], "not-the-pass")
    assert err.value.code == "wrong_passphrase" and "không đúng" in err.value.message
    with pytest.raises(SigningError) as err:
        pki.issue_seal(CODE, ca_passphrase="wrong-ca-pass", passphrase=PW["seal"])
    assert err.value.code == "wrong_passphrase"
    with pytest.raises(SigningError) as err:
        pki.issue_seal(CODE, ca_passphrase=PW["ca"], passphrase="short")
    assert err.value.code == "weak_passphrase"
    before = pki.read_index()
    assert before == pki.read_index()  # refusals changed nothing


def test_expired_revoked_untrusted(pki, tmp_path):
    old = pki.issue_person(CODE, "old", "Trần Thị Cũ", "Chánh Văn phòng", ca_passphrase=PW["ca"],
                           passphrase=PW["person"], days=1)
    signer = pki.load_signer(old["serial"], PW["person"])
    signer.check_usable(NOW + timedelta(hours=1))
    with pytest.raises(SigningError) as err:
        signer.check_usable(NOW + timedelta(days=2))
    assert err.value.code == "cert_expired"

    bad = pki.issue_person(CODE, "lost", "Lê Văn Mất", "Phó Chủ tịch", ca_passphrase=PW["ca"], passphrase=PW["person"])
    number_before = pki.read_index()["cas"][CODE]["crl_number"]
    pki.revoke(bad["serial"], ca_passphrase=PW["ca"], reason="key_compromise")
    crl = x509.load_pem_x509_crl((pki.ca_dir(CODE) / "crl.pem").read_bytes())
    assert crl.is_signature_valid(pki.ca_cert(CODE).public_key())
    assert crl.get_revoked_certificate_by_serial_number(int(bad["serial"], 16)) is not None
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number_before + 1
    with pytest.raises(SigningError) as err:
        pki.load_signer(bad["serial"], PW["person"]).check_usable(NOW)
    assert err.value.code == "cert_revoked"
    with pytest.raises(SigningError) as err:
        pki.revoke(bad["serial"], ca_passphrase=PW["ca"])
    assert err.value.code == "already_revoked"

    other = Pki(tmp_path / "other", clock=lambda: NOW, ca_key_bits=2048)
    other.init_root("CA lạ", PW["root"])
    other.issue_agency_ca("H99", "Cơ quan lạ", root_passphrase=PW["root"], passphrase=PW["ca"])
    stranger = other.issue_person("H99", "x", "Người Lạ", "Giám đốc", ca_passphrase=PW["ca"], passphrase=PW["person"])
    foreign = load_signer(other.dir / stranger["path"], PW["person"], trust=pki.trust_store())
    with pytest.raises(SigningError) as err:
        foreign.check_usable(NOW)
    assert err.value.code == "cert_untrusted"


def test_rotate_revokes_old_as_superseded(pki):
    seal = pki.issue_seal(CODE, ca_passphrase=PW["ca"], passphrase=PW["seal"])
    new = pki.rotate(seal["serial"], ca_passphrase=PW["ca"], passphrase="seal-pass-2")
    old = pki.read_index()["certs"][seal["serial"]]
    assert old["status"] == "revoked" and old["reason"] == "superseded" and old["replaced_by"] == new["serial"]
    assert pki.current("seal", CODE)["serial"] == new["serial"]
    kept = pki.rotate(new["serial"], ca_passphrase=PW["ca"], passphrase="seal-pass-3", revoke_old=False)
    assert pki.read_index()["certs"][new["serial"]]["status"] == "active"
    assert pki.current("seal", CODE)["serial"] in (kept["serial"], new["serial"])


def _foreign_p12(tmp_path, passphrase: bytes):
    """Stands in for a Ban Cơ yếu token export: own root, EC key, legacy-free PKCS#12."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Cục Chứng thực số và Bảo mật thông tin")])
    root = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(root_key.public_key())
            .serial_number(1).not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=900))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(root_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Phạm Văn Thật")]))
            .issuer_name(name).public_key(key.public_key()).serial_number(77)
            .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=300))
            .sign(root_key, hashes.SHA256()))
    data = pkcs12.serialize_key_and_certificates(b"token", key, leaf, [root],
                                                 serialization.BestAvailableEncryption(passphrase))
    path = tmp_path / "token.p12"
    path.write_bytes(data)
    return path, root


def test_import_p12_and_trust_its_root(pki, tmp_path):
    path, root = _foreign_p12(tmp_path, b"token-pass")
    with pytest.raises(SigningError) as err:
        pki.import_p12(path, "wrong")
    assert err.value.code == "wrong_passphrase"
    rec = pki.import_p12(path, "token-pass", label="Chứng thư Ban Cơ yếu")
    assert rec["kind"] == "imported" and stat.S_IMODE((pki.dir / rec["path"]).stat().st_mode) == 0o600
    signer = pki.load_signer(rec["serial"], "token-pass")
    with pytest.raises(SigningError) as err:
        signer.check_usable(NOW)
    assert err.value.code == "cert_untrusted"
    pki.add_trusted_root(root.public_bytes(serialization.Encoding.DER))
    pki.load_signer(rec["serial"], "token-pass").check_usable(NOW)


def test_cli_end_to_end(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    root_pw, ca_pw, key_pw = tmp_path / "root.pw", tmp_path / "ca.pw", tmp_path / "key.pw"
    for f, v in ((root_pw, "cli-root-pass"), (ca_pw, "cli-ca-pass"), (key_pw, "cli-key-pass")):
        f.write_text(v + "\n")
        f.chmod(0o600)
    run = [*("--data", str(data), "pki")]
    assert pki_main([*run, "init-root", "--name", "CA gốc tỉnh", "--ca-key-bits", "2048", "--passphrase-file", str(root_pw)]) == 0
    monkeypatch.setenv("VANBAN_PKI_PASSPHRASE", "cli-ca-pass")  # env var path for the new CA key
    assert pki_main([*run, "issue-agency", "--code", "h37.02", "--name", "UBND huyện", "--ca-key-bits", "2048",
                     "--ca-passphrase-file", str(root_pw)]) == 0
    monkeypatch.delenv("VANBAN_PKI_PASSPHRASE")
    assert pki_main([*run, "issue-person", "--agency", "H37.02", "--username", "ttb", "--full-name", "Trần Thị Bình",
                     "--title", "Chủ tịch", "--ca-passphrase-file", str(ca_pw), "--passphrase-file", str(key_pw)]) == 0
    assert pki_main([*run, "issue-seal", "--agency", "H37.02", "--ca-passphrase-file", str(ca_pw),
                     "--passphrase-file", str(key_pw)]) == 0
    capsys.readouterr()
    assert pki_main([*run, "list", "--json"]) == 0
    import json

    records = json.loads(capsys.readouterr().out)
    person = next(r for r in records if r["kind"] == "person")
    assert person["subject"] == "Trần Thị Bình"
    assert pki_main([*run, "rotate", person["serial"], "--ca-passphrase-file", str(ca_pw),
                     "--passphrase-file", str(key_pw)]) == 0
    assert pki_main([*run, "crl", "--ca", "H37.02", "--ca-passphrase-file", str(ca_pw)]) == 0
    assert "1 chứng thư bị thu hồi" in capsys.readouterr().out
    # refusals: exit 2 with a Vietnamese message, never a traceback
    seal = next(r for r in records if r["kind"] == "seal")
    assert pki_main([*run, "revoke", seal["serial"], "--ca-passphrase-file", str(root_pw)]) == 2
    assert "Mật khẩu" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert pki_main([*run, "issue-seal", "--agency", "H37.02", "--ca-passphrase-file", str(ca_pw)]) == 2
    assert "passphrase_missing" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a passphrase on argv is not an option at all
        pki_main([*run, "init-root", "--name", "x", "--passphrase", "secret123"])
    assert os.stat(data / "pki").st_mode & 0o077 == 0
