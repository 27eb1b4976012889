"""`vanban metrics write-textfile`: certificate expiry and antivirus signature age for node exporter.

Real certificates (cryptography) and real signature files in tmp dirs, the command run as the unit runs it, the
files read back with prometheus_client's parser and served by a real node exporter on loopback."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.parser import text_string_to_metric_families

from vanban import cli

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = 86400


def _cert(cn, days, issuer=None):
    """(certificate, key); self-signed without an issuer (certificate, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer_cert, signer_key = issuer or (None, key)
    cert = (x509.CertificateBuilder().subject_name(name)
            .issuer_name(signer_cert.subject if signer_cert else name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=days))
            .sign(signer_key, hashes.SHA256()))
    return cert, key


def _pem(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _cvd(path, build_time, version=27000, date="08 Mar 2026 10-00 +0700"):
    header = f"ClamAV-VDB:{date}:{version}:2000000:90:x:y:builder:{int(build_time)}"
    path.write_bytes(header.encode().ljust(512, b" ") + b"\x1f\x8b compressed body")


def _age(path, seconds):
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


@pytest.fixture
def server(tmp_path):
    """A hub's files: nginx's certificate chain, the exchange identity in <data>/pki/exchange, the CA dir, the
    textfile dir and a ClamAV database dir fed by freshclam (plus a hand-written local.hdb)."""
    root, root_key = _cert("CA liên thông", 3650)
    tls, _ = _cert("hub1", 400, (root, root_key))
    dsig, _ = _cert("hub1", 500, (root, root_key))
    pki = tmp_path / "data" / "pki" / "exchange"
    pki.mkdir(parents=True)
    (pki / "ca.crt").write_bytes(_pem(root))
    (pki / "tls.crt").write_bytes(_pem(tls))
    (pki / "dsig.crt").write_bytes(_pem(dsig))
    (pki / "tls.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot read\n-----END PRIVATE KEY-----\n")
    ca_dir = tmp_path / "exchange-ca"
    (ca_dir / "pki" / "root").mkdir(parents=True)
    (ca_dir / "pki" / "root" / "ca.crt").write_bytes(_pem(root))
    # nginx serves leaf + intermediate; the intermediate ends first, so the file stops working then.
    inter, inter_key = _cert("provincial intermediate", 60, (root, root_key))
    leaf, _ = _cert("hub1.tinh.vn", 90, (inter, inter_key))
    https = tmp_path / "etc" / "tls" / "server.crt"
    https.parent.mkdir(parents=True)
    https.write_bytes(_pem(leaf, inter))
    clamav = tmp_path / "clamav"
    clamav.mkdir()
    _cvd(clamav / "daily.cld", NOW.timestamp() - 5 * 3600, version=27400)
    _cvd(clamav / "main.cvd", NOW.timestamp() - 400 * DAY, version=62)
    _age(clamav / "daily.cld", 3600)  # copied an hour ago by freshclam; built 5 hours ago
    (clamav / "local.hdb").write_text("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n")
    (clamav / "freshclam.dat").write_bytes(b"\0" * 64)
    textfiles = tmp_path / "node-exporter"
    textfiles.mkdir()
    return {"data": tmp_path / "data", "pki": pki, "ca_dir": ca_dir, "https": https, "clamav": clamav,
            "textfiles": textfiles, "root": root, "tls": tls, "dsig": dsig, "inter": inter}


def write_textfile(s, *extra):
    return cli.main(["--data", str(s["data"]), "metrics", "write-textfile", "--textfile-dir", str(s["textfiles"]),
                     "--clamav-dir", str(s["clamav"]), "--https-cert", str(s["https"]),
                     "--exchange-ca-dir", str(s["ca_dir"]), *extra])


def samples(path):
    """{(name, cert label or None): value} of a .prom file, through prometheus_client's text parser."""
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        assert family.type == "gauge"
        for sample in family.samples:
            out[(sample.name, sample.labels.get("cert"))] = sample.value
    return out


def _expiry(cert):
    return cert.not_valid_after_utc.timestamp()


def test_writes_every_certificate_and_the_signature_build_time(server, capsys):
    assert write_textfile(server) == 0
    tls = samples(server["textfiles"] / "vanban_tls.prom")
    expiry = {label: value for (name, label), value in tls.items()
              if name == "vanban_tls_cert_expiry_timestamp_seconds"}
    assert expiry == {"https": _expiry(server["inter"]), "exchange_tls": _expiry(server["tls"]),
                      "exchange_dsig": _expiry(server["dsig"]), "exchange_ca": _expiry(server["root"]),
                      "exchange_root_ca": _expiry(server["root"])}
    assert {label for (name, label), v in tls.items() if name == "vanban_tls_cert_readable" and v == 1} == set(expiry)
    av = samples(server["textfiles"] / "vanban_av.prom")
    # daily.cld's header (5 h), not its mtime (1 h), not main.cvd (400 days), not the newer local.hdb
    assert av == {("vanban_av_signature_timestamp_seconds", None): NOW.timestamp() - 5 * 3600}
    out = capsys.readouterr()
    assert "vanban_tls.prom: exchange_ca, exchange_dsig, exchange_root_ca, exchange_tls, https" in out.out
    assert out.err == ""
    mode = (server["textfiles"] / "vanban_tls.prom").stat().st_mode & 0o777
    assert mode == 0o644  # node exporter reads as prometheus
    assert sorted(p.name for p in server["textfiles"].iterdir()) == ["vanban_av.prom", "vanban_tls.prom"]


def test_a_node_not_yet_enrolled_reports_what_it_has(server):
    shutil.rmtree(server["pki"])
    shutil.rmtree(server["ca_dir"])
    assert write_textfile(server) == 0
    tls = samples(server["textfiles"] / "vanban_tls.prom")
    assert tls == {("vanban_tls_cert_expiry_timestamp_seconds", "https"): _expiry(server["inter"]),
                   ("vanban_tls_cert_readable", "https"): 1.0}


def test_a_certificate_that_disappears_is_no_longer_reported(server):
    assert write_textfile(server) == 0
    (server["pki"] / "dsig.crt").unlink()
    assert write_textfile(server) == 0
    labels = {label for _, label in samples(server["textfiles"] / "vanban_tls.prom")}
    assert "exchange_dsig" not in labels and "exchange_tls" in labels


def test_corrupt_or_unreadable_certificates_are_a_gauge_and_a_log_line(server, capsys):
    (server["pki"] / "tls.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    (server["pki"] / "dsig.crt").write_bytes(b"")
    server["https"].unlink()
    server["https"].mkdir()  # a directory where the file should be: unreadable, not absent
    assert write_textfile(server) == 0
    tls = samples(server["textfiles"] / "vanban_tls.prom")
    for label in ("exchange_tls", "exchange_dsig", "https"):
        assert tls[("vanban_tls_cert_readable", label)] == 0
        assert ("vanban_tls_cert_expiry_timestamp_seconds", label) not in tls
    assert tls[("vanban_tls_cert_expiry_timestamp_seconds", "exchange_ca")] == _expiry(server["root"])
    err = capsys.readouterr().err
    assert err.count("[cert_unreadable]") == 3 and "không đọc được chứng thư exchange_tls" in err


def test_extra_certificates_from_the_command_line(server, tmp_path):
    other, _ = _cert("smtp relay", 30)
    (tmp_path / "relay.crt").write_bytes(_pem(other))
    assert write_textfile(server, "--cert", f"smtp_relay={tmp_path / 'relay.crt'}") == 0
    tls = samples(server["textfiles"] / "vanban_tls.prom")
    assert tls[("vanban_tls_cert_expiry_timestamp_seconds", "smtp_relay")] == _expiry(other)


@pytest.mark.parametrize("argv, code", [
    (["--cert", "Bad-Label=/etc/x.crt"], "cert_label_invalid"),
    (["--cert", "no_path"], "cert_option_invalid"),
    (["--textfile-dir", "/nonexistent/node-exporter"], "textfile_dir_missing"),
])
def test_bad_input_is_refused_and_writes_nothing(server, capsys, argv, code):
    assert write_textfile(server, *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lỗi: ") and err.rstrip().endswith(f"[{code}]")
    assert list(server["textfiles"].iterdir()) == []


def test_dry_run_prints_and_writes_nothing(server, capsys):
    assert write_textfile(server, "--dry-run") == 0
    out = capsys.readouterr().out
    assert 'vanban_tls_cert_expiry_timestamp_seconds{cert="exchange_tls"}' in out
    assert "vanban_av_signature_timestamp_seconds " in out
    assert list(server["textfiles"].iterdir()) == []


# ---------------------------------------------------------------- signature databases

def _av(server):
    assert write_textfile(server) == 0
    return samples(server["textfiles"] / "vanban_av.prom")[("vanban_av_signature_timestamp_seconds", None)]


def test_without_official_databases_the_newest_signature_file_counts(server):
    """A lab's EICAR-only clamd (TESTHOSTS.md): test.hdb and test.ndb, no .cvd: their mtime."""
    for name in ("daily.cld", "main.cvd", "local.hdb"):
        (server["clamav"] / name).unlink()
    for name, age in (("test.hdb", 7 * DAY), ("test.ndb", 2 * DAY)):
        (server["clamav"] / name).write_text("x\n")
        _age(server["clamav"] / name, age)
    _age(server["clamav"] / "freshclam.dat", 0)  # freshclam's state file is no signature database
    assert _av(server) == pytest.approx(time.time() - 2 * DAY, abs=5)


def test_a_damaged_header_falls_back_to_the_files_mtime(server, capsys):
    (server["clamav"] / "main.cvd").unlink()
    (server["clamav"] / "daily.cld").write_bytes(b"\0" * 512)
    _age(server["clamav"] / "daily.cld", 3 * DAY)
    assert _av(server) == pytest.approx(time.time() - 3 * DAY, abs=5)
    assert "[cvd_header_invalid]" in capsys.readouterr().err


def test_an_old_header_without_unix_time_uses_its_date(server):
    (server["clamav"] / "main.cvd").unlink()
    (server["clamav"] / "daily.cld").write_bytes(b"ClamAV-VDB:08 Mar 2026 10-00 +0700:27000:2000000:90:x:y:b".ljust(512))
    assert _av(server) == datetime(2026, 3, 8, 3, 0, tzinfo=UTC).timestamp()


def test_no_database_keeps_the_last_file_so_its_age_still_grows(server, capsys):
    assert write_textfile(server) == 0
    before = (server["textfiles"] / "vanban_av.prom").read_text()
    shutil.rmtree(server["clamav"])
    assert write_textfile(server) == 0
    assert (server["textfiles"] / "vanban_av.prom").read_text() == before
    assert "[av_signatures_missing]" in capsys.readouterr().err


# ---------------------------------------------------------------- atomic replace

def test_readers_never_see_half_a_file(server):
    """node exporter reads at any moment: while the file is rewritten again and again, every read is whole."""
    target = server["textfiles"] / "vanban_tls.prom"
    assert write_textfile(server) == 0
    whole = target.read_text()
    seen, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            seen.append(target.read_text())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(30):
            assert write_textfile(server) == 0
    finally:
        stop.set()
        thread.join()
    assert seen and all(text == whole for text in seen)
    assert not [p for p in server["textfiles"].iterdir() if p.name.startswith(".")]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(server, monkeypatch):
    from vanban import textfile

    assert write_textfile(server) == 0
    before = (server["textfiles"] / "vanban_tls.prom").read_text()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(textfile.os, "fsync", broken_fsync)
    assert write_textfile(server) == 2
    assert (server["textfiles"] / "vanban_tls.prom").read_text() == before
    assert sorted(p.name for p in server["textfiles"].iterdir()) == ["vanban_av.prom", "vanban_tls.prom"]


def test_backup_metrics_still_merge_through_the_shared_writer(tmp_path):
    from vanban.backup import BACKUP_HELP, load_backup_config, write_metrics

    config = load_backup_config(environ={}, textfile_dir=str(tmp_path))
    write_metrics(config, "vanban_backup.prom", {'vanban_backup_last_success_timestamp_seconds{repo="hub"}': 100},
                  BACKUP_HELP)
    write_metrics(config, "vanban_backup.prom", {'vanban_backup_last_success_timestamp_seconds{repo="local"}': 200},
                  BACKUP_HELP)
    families = list(text_string_to_metric_families((tmp_path / "vanban_backup.prom").read_text()))
    assert {s.labels["repo"]: s.value for f in families for s in f.samples} == {"hub": 100.0, "local": 200.0}


# ---------------------------------------------------------------- a real node exporter

NODE_EXPORTER = shutil.which("prometheus-node-exporter")


@pytest.mark.skipif(NODE_EXPORTER is None, reason="apt-get install prometheus-node-exporter (make debs)")
def test_node_exporter_serves_the_files(server):
    assert write_textfile(server) == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
                             "--collector.textfile", f"--collector.textfile.directory={server['textfiles']}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                    text = resp.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
    served = {(s.name, s.labels.get("cert"), s.labels.get("file")): s.value
              for f in text_string_to_metric_families(text) for s in f.samples}
    assert served[("node_textfile_scrape_error", None, None)] == 0
    assert served[("vanban_tls_cert_expiry_timestamp_seconds", "exchange_tls", None)] == _expiry(server["tls"])
    assert served[("vanban_av_signature_timestamp_seconds", None, None)] == NOW.timestamp() - 5 * 3600
