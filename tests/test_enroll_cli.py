"""Enrolment as the playbooks drive it (`vanban enroll request | sign | install | status`) and the hub's
directory filled from the inventory (`vanban hub sync-directory`): the CLI in-process, real files and keys.

The hub side runs with `--data` on a directory of its own that holds the provincial root (root-only on a
real hub, outside the app's data directory), as playbooks/roles/exchange does.
"""

from __future__ import annotations

import io
import json
import sys
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509

from vanban.cli import main

ROOT_PASS = "province-root-passphrase-for-tests"


def _run(capsys, monkeypatch, argv, stdin: str | bytes = "") -> tuple[int, str, str]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    capsys.readouterr()
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def ca_home(tmp_path, capsys, monkeypatch):
    """The hub's CA directory: a provincial root made with `vanban pki init-root`, its passphrase where
    `vanban enroll sign` reads it (pki/enroll/ca.pass)."""
    home = tmp_path / "ca"
    (home / "pki/enroll").mkdir(parents=True, mode=0o700)
    pass_file = home / "pki/enroll/ca.pass"
    pass_file.write_text(ROOT_PASS + "\n")
    pass_file.chmod(0o600)
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(home), "pki", "init-root", "--name",
                                              "CA liên thông tỉnh thử", "--ca-key-bits", "2048",
                                              "--passphrase-file", str(pass_file)])
    assert rc == 0, err
    return home


def _enrol(capsys, monkeypatch, ca_home, server, *, name, role="node", hosts=()):
    host_args = [a for h in hosts for a in ("--host", h)]
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(server), "enroll", "request", "--name", name,
                                              "--role", role, *host_args])
    assert rc == 0, err
    request = json.loads(out)
    assert "PRIVATE" not in out and (server / "pki/exchange/pending/tls.key").exists()
    rc, token, err = _run(capsys, monkeypatch, ["--data", str(ca_home), "enroll", "token", "--name", name,
                                                "--role", role, "--hours", "1"])
    assert rc == 0, err
    rc, answer, err = _run(capsys, monkeypatch, ["--data", str(ca_home), "enroll", "sign"],
                           json.dumps({**request, "token": token.strip()}))
    assert rc == 0, err
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(server), "enroll", "install"], answer)
    assert rc == 0, err
    return json.loads(out)


def _status(capsys, monkeypatch, ca_home, server, *args):
    root = (ca_home / "pki/root/ca.crt").read_bytes()
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(server), "enroll", "status", *args], root)
    assert rc == 0, err
    return json.loads(out)


def test_a_server_enrols_over_the_playbooks_path(ca_home, tmp_path, capsys, monkeypatch):
    node = tmp_path / "node"
    result = _enrol(capsys, monkeypatch, ca_home, node, name="node1", hosts=["node1", "198.18.0.11"])
    pki = node / "pki/exchange"
    tls = x509.load_pem_x509_certificate((pki / "tls.crt").read_bytes())
    assert result["tls_serial"] == f"{tls.serial_number:x}" and "CN=node1" in tls.subject.rfc4514_string()
    assert oct((pki / "tls.key").stat().st_mode)[-3:] == "600" and oct((pki / "dsig.key").stat().st_mode)[-3:] == "600"
    assert not (pki / "pending").exists()
    assert (pki / "ca.crt").read_bytes() == (ca_home / "pki/root/ca.crt").read_bytes()
    # The token was issued for this request and spent by it; only its hash is kept at the hub.
    tokens = json.loads((ca_home / "pki/enroll/tokens.json").read_text())
    assert [(r["name"], r["role"], bool(r["used"])) for r in tokens.values()] == [("node1", "node", True)]

    from vanban.exchange.config import load_config

    assert load_config(node).signer  # the exchange reads the identity as its own
    status = _status(capsys, monkeypatch, ca_home, node, "--name", "node1", "--host", "198.18.0.11")
    assert status["valid"] and status["reasons"] == [], status
    assert datetime.fromisoformat(status["not_after"]) > datetime.now(timezone.utc) + timedelta(days=800)


def test_the_hub_can_issue_and_spend_the_token_itself(ca_home, tmp_path, capsys, monkeypatch):
    """The playbooks' form: root at the hub issues the request's token and spends it in one command, so no
    token travels through Ansible."""
    node = tmp_path / "node"
    rc, request, err = _run(capsys, monkeypatch, ["--data", str(node), "enroll", "request", "--name", "node2"])
    assert rc == 0, err
    rc, answer, err = _run(capsys, monkeypatch, ["--data", str(ca_home), "enroll", "sign", "--issue-token"], request)
    assert rc == 0, err
    assert _run(capsys, monkeypatch, ["--data", str(node), "enroll", "install"], answer)[0] == 0
    assert _status(capsys, monkeypatch, ca_home, node, "--name", "node2")["valid"]
    tokens = json.loads((ca_home / "pki/enroll/tokens.json").read_text())
    assert [(r["name"], bool(r["used"])) for r in tokens.values()] == [("node2", True)]
    # The request's own checks still apply: a role the token cannot be issued for is refused.
    bad = {**json.loads(request), "role": "admin"}
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(ca_home), "enroll", "sign", "--issue-token"],
                        json.dumps(bad))
    assert rc == 2 and "enroll_bad_request" in err


def test_status_names_what_is_wrong(ca_home, tmp_path, capsys, monkeypatch):
    node = tmp_path / "node"
    assert _status(capsys, monkeypatch, ca_home, node, "--name", "node1")["valid"] is False  # nothing yet
    _enrol(capsys, monkeypatch, ca_home, node, name="node1", hosts=["node1", "198.18.0.11"])
    reasons = _status(capsys, monkeypatch, ca_home, node, "--name", "node2", "--role", "hub",
                      "--host", "198.18.0.12", "--renew-days", "900")["reasons"]
    assert any("not 'node2'" in r for r in reasons)
    assert any("issued for a node, this is the hub" in r for r in reasons)
    assert any("does not name 198.18.0.12" in r for r in reasons)
    assert any("renewed 900 days before" in r for r in reasons)
    # A node's certificate is a client's: an address it does not name is no reason to issue it again.
    assert _status(capsys, monkeypatch, ca_home, node, "--name", "node1", "--host", "198.18.0.99")["valid"]
    # Another province's root (a hub rebuilt with a new CA): nothing installed chains to it.
    other = tmp_path / "other-ca"
    (other / "pki/enroll").mkdir(parents=True)
    (other / "pass").write_text(ROOT_PASS)
    assert _run(capsys, monkeypatch, ["--data", str(other), "pki", "init-root", "--name", "Khác",
                                      "--ca-key-bits", "2048", "--passphrase-file", str(other / "pass")])[0] == 0
    reasons = _status(capsys, monkeypatch, other, node, "--name", "node1")["reasons"]
    assert "ca.crt is not the hub's root" in reasons and "tls.crt is not issued by the hub's root" in reasons


def test_a_hub_identity_serves_tls(ca_home, tmp_path, capsys, monkeypatch):
    hub = tmp_path / "hub"
    _enrol(capsys, monkeypatch, ca_home, hub, name="hub1", role="hub", hosts=["hub1", "198.18.0.10"])
    status = _status(capsys, monkeypatch, ca_home, hub, "--name", "hub1", "--role", "hub", "--host", "198.18.0.10")
    assert status["valid"], status


def test_a_bad_answer_leaves_the_current_identity(ca_home, tmp_path, capsys, monkeypatch):
    node = tmp_path / "node"
    _enrol(capsys, monkeypatch, ca_home, node, name="node1")
    before = {p.name: p.read_bytes() for p in (node / "pki/exchange").iterdir() if p.is_file()}
    # A renewal whose answer is for other keys (another server's request) is refused; nothing changes.
    other = tmp_path / "other"
    answer_for_other = _enrol(capsys, monkeypatch, ca_home, other, name="node1")
    assert answer_for_other
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(node), "enroll", "request", "--name", "node1"])
    assert rc == 0
    stolen = {"ca": (other / "pki/exchange/ca.crt").read_text(), "tls": (other / "pki/exchange/tls.crt").read_text(),
              "dsig": (other / "pki/exchange/dsig.crt").read_text()}
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(node), "enroll", "install"], json.dumps(stolen))
    assert rc == 2 and "another key" in err
    after = {p.name: p.read_bytes() for p in (node / "pki/exchange").iterdir() if p.is_file()}
    assert after == before
    # Garbage, a request without a token, or a token for another name: refused, no token spent.
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(node), "enroll", "install"], "not json")
    assert rc == 2 and "enroll_bad_request" in err
    request = json.loads(_run(capsys, monkeypatch, ["--data", str(node), "enroll", "request", "--name", "node1"])[1])
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(ca_home), "enroll", "sign"], json.dumps(request))
    assert rc == 2 and "enroll_bad_request" in err
    token = _run(capsys, monkeypatch, ["--data", str(ca_home), "enroll", "token", "--name", "node9"])[1].strip()
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(ca_home), "enroll", "sign"],
                        json.dumps({**request, "token": token}))
    assert rc == 2 and "enroll_token_refused" in err
    # Without the passphrase file the hub says enrolment is not set up.
    (ca_home / "pki/enroll/ca.pass").unlink()
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(ca_home), "enroll", "sign"], json.dumps(request))
    assert rc == 2 and "enroll_not_configured" in err


def test_directory_is_synced_from_a_list(tmp_path, capsys, monkeypatch):
    hub = tmp_path / "hub"
    assert _run(capsys, monkeypatch, ["--data", str(hub), "init"])[0] == 0
    assert _run(capsys, monkeypatch, ["--data", str(hub), "hub", "add-agency", "--code", "H29.99",
                                      "--name", "Added by hand", "--node", "elsewhere"])[0] == 0
    entries = [{"code": "H29.31.01", "name": "UBND huyện An Phú", "node": "node1"},
               {"code": "h29.32.01", "name": "UBND huyện Châu Thành", "node": "node2", "level": "district"}]
    sync = ["--data", str(hub), "hub", "sync-directory"]
    rc, out, err = _run(capsys, monkeypatch, sync, json.dumps(entries))
    assert rc == 0, err
    assert json.loads(out) == {"added": ["H29.31.01", "H29.32.01"], "updated": [], "unchanged": [],
                               "deactivated": []}
    rc, out, err = _run(capsys, monkeypatch, sync, json.dumps(entries))
    assert json.loads(out) == {"added": [], "updated": [], "unchanged": ["H29.31.01", "H29.32.01"],
                               "deactivated": []}
    entries[1]["node"] = "node3"  # the agency moved to another server
    rc, out, err = _run(capsys, monkeypatch, sync, json.dumps(entries))
    assert json.loads(out)["updated"] == ["H29.32.01"]
    # One bad entry: refused with its reason, and nothing of the list is written.
    bad = [{"code": "H29.33.01", "name": "Mới", "node": "node3"}, {"code": "not a code", "name": "x", "node": "n"}]
    rc, out, err = _run(capsys, monkeypatch, sync, json.dumps(bad))
    assert rc == 2 and "agency_code_invalid" in err
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(hub), "hub", "list"])
    assert "H29.33.01" not in out and "H29.99" in out and "node3" in out  # hand-made entries are kept
    rc, out, err = _run(capsys, monkeypatch, sync, json.dumps(entries + entries[:1]))
    assert rc == 2 and "agency_code_duplicate" in err
    # An agency its server no longer hosts in the inventory is deactivated: kept, but no longer a destination;
    # the hand-made entry of a server the list does not name stays active.
    merged = [dict(entries[0], node="node3"), entries[1]]  # node1's only agency moved to node3 ...
    rc, out, err = _run(capsys, monkeypatch, sync, json.dumps(merged))
    assert json.loads(out)["deactivated"] == []  # ... which is a move, not a removal
    rc, out, err = _run(capsys, monkeypatch, sync, json.dumps(merged[1:]))
    assert json.loads(out) == {"added": [], "updated": [], "unchanged": ["H29.32.01"], "deactivated": ["H29.31.01"]}
    from vanban.exchange import hub as hub_module

    assert hub_module.find_agency("H29.31.01") is None
    assert hub_module.find_agency("H29.31.01", include_inactive=True).node == "node3"
    assert [a.code for a in hub_module.list_agencies()] == ["H29.32.01", "H29.99"]
    rc, out, err = _run(capsys, monkeypatch, ["--data", str(hub), "hub", "list"])
    assert "ngừng hoạt động" in next(line for line in out.splitlines() if line.startswith("H29.31.01"))
    rc, out, err = _run(capsys, monkeypatch, sync, json.dumps(merged))  # listed again: active again
    assert json.loads(out)["updated"] == ["H29.31.01"] and hub_module.find_agency("H29.31.01") is not None
