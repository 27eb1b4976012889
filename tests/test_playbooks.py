"""The playbooks against a real province: a hub and two district nodes (Debian 12 containers).

One lab for the module; the tests run in file order (bad inventory first, while the hosts are
still untouched, then converge, checks, upgrade). Wall times are printed (`pytest -s`).
"""

import json
import re
import shlex
import sys
import time

import pytest

from hostlab.province import Province, set_version, snapshot_source

# A fresh converge of three hosts takes minutes on a shared 2-core machine; the default 600 s is too tight.
pytestmark = [pytest.mark.hosts, pytest.mark.slow, pytest.mark.timeout(1800)]
pytest_plugins = ("hostlab.fixtures",)

HUB, NODES = "hub1", ["node1", "node2"]
EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def province(module_lab_factory, tmp_path_factory):
    started = time.monotonic()
    lab = module_lab_factory([HUB, *NODES], name="pb")
    clerk = lab.outsider("clerk")        # a PC in node1's agency LAN
    lab.outsider("stranger")             # an address in no configured network
    lans = {"node1": f"{clerk.address}/32", "node2": f"{lab.subnet.network.network_address + 240}/28"}
    prov = Province(lab, tmp_path_factory.mktemp("province"), HUB, NODES, lans)
    TIMES["lab bring-up"] = time.monotonic() - started
    yield prov
    print("\nwall times: " + ", ".join(f"{k} {v:.0f}s" for k, v in TIMES.items()))


_LOGIN = (
    "import requests, sys\n"
    # verify= on each call: a session-level value loses to REQUESTS_CA_BUNDLE from the environment.
    "s, ca = requests.Session(), sys.argv[2]\n"
    "page = s.get(sys.argv[1] + '/login', timeout=10, verify=ca)\n"
    "assert page.status_code == 200 and 'password' in page.text, page.status_code\n"
    "r = s.post(sys.argv[1] + '/login', data={'username': 'vanthu', 'password': 'mat-khau-thu-1'}, timeout=10, verify=ca)\n"
    "print(r.status_code, r.url)\n")


def _login_from_clerk(prov, address):
    """Log in as a clerk PC would: from the agency LAN namespace, TLS verified against the lab CA."""
    result = prov.lab.outsiders["clerk"].run(
        [sys.executable, "-c", _LOGIN, f"https://{address}", str(prov.ca_cert)], check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def _probe(prov, name, address, port):
    return prov.lab.outsiders[name].tcp_state(address, port, timeout=1.0)


def test_bad_inventory_is_refused_before_any_change(province):
    bad = province.write_inventory(
        "bad.yml",
        groups={"hub": [HUB], "nodes": NODES, "districts": ["node2"]},
        host_vars={"node2": {"vanban_agencies": [{"code": "H29.31.01", "name": "trùng mã", "lan": "10.9.0.0/24"}]},
                   "node1": {"vanban_exchange_node_name": "NODE2"}},
        all_vars={"vanban_admin_networks": ["10.250.0.0/24"], "vanban_preflight_min_free_gb": 1000000,
                  "vanban_hub_address": "hub1.lab/24"})
    run = province.play("site.yml", inventory=bad)
    TIMES["refused bad inventory"] = run.seconds
    assert run.rc != 0
    out = run.output
    assert "unknown group(s) districts" in out and "node2" in out
    assert "agency code H29.31.01 is listed 2 times (node1, node2)" in out
    assert "the firewall would lock it out" in out and f"add {province.lab.subnet.gateway}/32" in out
    assert "GiB free under /var" in out
    # Exchange settings: the hub's address must be an address, and two servers cannot share a name at the hub.
    assert "vanban_hub_address hub1.lab/24 is not an IP address" in out
    assert "exchange name NODE2 is also the name of node2: the hub could not tell them apart" in out
    for host in (HUB, *NODES):
        assert province.lab[host].run("test -e /etc/nftables.conf || test -e /etc/vanban", check=False).returncode != 0
        assert province.lab[host].run("test -e /var/lib/vanban-exchange-ca", check=False).returncode != 0


def test_converge_then_second_run_changes_nothing(province):
    first = province.play("site.yml")
    TIMES["first converge"] = first.seconds
    assert first.rc == 0, first.report()
    second = province.play("site.yml")
    TIMES["no-change re-run"] = second.seconds
    assert second.rc == 0, second.report()
    assert set(second.changed()) >= {HUB, *NODES}
    assert all(n == 0 for n in second.changed().values()), second.changed()


def _root_vanban(prov, host, command, **kw):
    """The vanban CLI as root, like the backup units (only root reads the backup passphrase)."""
    return prov.lab[host].run(
        f"/opt/vanban/current/bin/vanban --config /etc/vanban/vanban.toml {command}", **kw)


def test_backups_are_deployed_and_reach_the_hub(province):
    node1, hub = province.lab["node1"], province.lab[HUB]
    started = time.monotonic()
    timers = node1.run("systemctl is-active vanban-backup.timer vanban-drill.timer").stdout.split()
    assert timers == ["active", "active"]
    assert node1.run("stat -c '%U %a' /etc/vanban/backup.passphrase").stdout.split() == ["root", "600"]
    passphrase = node1.run("cat /etc/vanban/backup.passphrase").stdout.strip()
    assert len(passphrase) >= 32
    for log in province.workdir.glob("*.log"):  # no_log: the passphrase is in no playbook output
        assert passphrase not in log.read_text(), log.name
    # Each node's key is forced to an append-only borg serve on its own repository at the hub.
    keys = hub.run("cat /srv/borg/.ssh/authorized_keys").stdout
    for node in NODES:
        assert (f'command="borg serve --append-only --restrict-to-repository /srv/borg/{node}",restrict '
                f"ssh-ed25519 ") in keys, keys
    now = _root_vanban(province, "node1", "backup now --quiet", check=False)
    assert now.returncode == 0, now.stdout + now.stderr
    listed = json.loads(_root_vanban(province, "node1", "backup list --repo all --json").stdout)
    # (The hourly timer may have added one of its own meanwhile.)
    local = {a["name"] for a in listed["local"]}
    assert local and all(name.startswith("vanban-") for name in local), local
    # The same archives went through the hub's forced command into node1's repository there.
    assert {a["name"] for a in listed["hub"]} == local
    assert hub.run("ls /srv/borg/node1/data/0").stdout.split()
    TIMES["backup now + list (local and hub)"] = time.monotonic() - started


def _prom_query(host, port, query):
    """An instant query against a Prometheus on the host's loopback (its HTTP API, as the fleet page reads it)."""
    out = host.run(f"curl -sfG http://127.0.0.1:{port}/api/v1/query --data-urlencode {shlex.quote('query=' + query)}")
    return json.loads(out.stdout)["data"]["result"]


def _wait_for(what, probe, timeout=150.0, every=5.0):
    """Poll until probe() is truthy: scrapes run every 30 s on a node and every 60 s at the hub."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(every)
    return value


def _samples(metrics: str, name: str) -> dict[str, float]:
    """{labels text: value} of one metric in node exporter's output."""
    return {m.group(1) or "": float(m.group(2))
            for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", metrics, re.M)}


def _check_textfile_metrics(prov, metrics):
    """Certificate expiry and signature age, written by vanban-textfile-metrics (started by site.yml)."""
    node1, hub = prov.lab["node1"], prov.lab[HUB]
    now = time.time()
    assert node1.run("systemctl is-active vanban-textfile-metrics.timer vanban-textfile-metrics.path"
                     ).stdout.split() == ["active", "active"]
    assert node1.run("systemctl show -P Result vanban-textfile-metrics.service").stdout.strip() == "success"
    expiry = _samples(metrics, "vanban_tls_cert_expiry_timestamp_seconds")
    # nginx's provisional certificate and node1's exchange identity (issued for 825 days), the root it trusts;
    # a node has no provincial CA of its own.
    assert set(expiry) == {'{cert="https"}', '{cert="exchange_tls"}', '{cert="exchange_dsig"}', '{cert="exchange_ca"}'}
    assert all(now + 700 * 86400 < v for v in expiry.values()), expiry
    assert set(_samples(metrics, "vanban_tls_cert_readable").values()) == {1.0}
    # The lab's clamd has only the EICAR lines (test.hdb, test.ndb) the antivirus role wrote: their mtime.
    (signatures,) = _samples(metrics, "vanban_av_signature_timestamp_seconds").values()
    assert now - 3 * 3600 < signatures <= now, signatures
    hub_metrics = hub.run("curl -sf http://127.0.0.1:9100/metrics").stdout
    assert '{cert="exchange_root_ca"}' in "".join(_samples(hub_metrics, "vanban_tls_cert_expiry_timestamp_seconds"))
    # A change in the signature directory (freshclam's renames) rewrites the file through the path unit.
    stamp = int(now) + 3600
    node1.run(f"touch -d @{stamp} /var/lib/clamav/test.hdb")
    _wait_for("the path unit rewrote vanban_av.prom", lambda: f" {stamp}.0" in node1.run(
        "cat /var/lib/prometheus/node-exporter/vanban_av.prom").stdout, timeout=30, every=1)


def test_monitoring_from_node_exporter_to_the_hub(province):
    """Node exporter -> local Prometheus (rules, targets) -> hub: federation and alerts to its Alertmanager."""
    node1, hub = province.lab["node1"], province.lab[HUB]
    started = time.monotonic()
    # Node exporter: loopback only, the backup's textfile metric (written by `backup now` above) and the
    # systemd collector's state of the app's unit.
    metrics = node1.run("curl -sf http://127.0.0.1:9100/metrics").stdout
    assert 'vanban_backup_last_success_timestamp_seconds{repo="local"}' in metrics
    assert re.search(r'^node_systemd_unit_state\{name="vanban-web.service",state="active"[^}]*\} 1$', metrics, re.M)
    assert hub.tcp_state(node1.address, 9100) == "refused"  # the firewall lets the hub in, nothing listens
    _check_textfile_metrics(province, metrics)
    assert hub.tcp_state(node1.address, 9090) == "open"
    # The local Prometheus: node rules loaded, app and node exporter scraped, identity as external labels.
    rules = json.loads(node1.run("curl -sf http://127.0.0.1:9090/api/v1/rules").stdout)["data"]["groups"]
    names = {rule["name"] for group in rules for rule in group["rules"]}
    assert {"VanbanWatchdog", "VanbanAppDown", "VanbanBackupTooOld", "VanbanSystemdUnitFailed"} <= names
    _wait_for("node1 scrapes the app and node exporter", lambda: {
        r["metric"]["job"] for r in _prom_query(node1, 9090, "up == 1")} >= {"vanban", "node"})
    config = json.loads(node1.run("curl -sf http://127.0.0.1:9090/api/v1/status/config").stdout)["data"]["yaml"]
    assert "node: node1" in config and "agencies: H29.31.01" in config
    # The hub's fleet Prometheus (the fleet page's source) has node1's series with node1's identity.
    build = _wait_for("node1's vanban_build_info federated to the hub", lambda: _prom_query(
        hub, 9092, 'vanban_build_info{node="node1"}'))
    assert build[0]["metric"]["province"] == "lab" and build[0]["metric"]["role"] == "node"
    assert _prom_query(hub, 9092, 'up{job="vanban-federate", node="node1"} == 1')
    # Alertmanager at the hub is ready and holds node1's heartbeat, sent by node1 itself through the firewall.
    assert hub.run("curl -sf http://127.0.0.1:9093/-/ready").returncode == 0
    alerts = _wait_for("node1's VanbanWatchdog at the hub's Alertmanager", lambda: json.loads(hub.run(
        "curl -sfG http://127.0.0.1:9093/api/v2/alerts --data-urlencode 'filter=alertname=\"VanbanWatchdog\"'"
        " --data-urlencode 'filter=node=\"node1\"'").stdout))
    assert alerts[0]["labels"]["province"] == "lab"
    TIMES["monitoring checks"] = time.monotonic() - started


def test_check_mode_predicts_no_change(province):
    run = province.play("site.yml", "--check", "--diff")
    TIMES["check mode"] = run.seconds
    assert run.rc == 0, run.report()
    assert all(n == 0 for n in run.changed().values()), run.changed()


def test_login_page_over_https_from_the_agency_lan(province):
    node1 = province.lab["node1"]
    # The role created the inventory's agency; --if-missing makes this a no-op that says so.
    out = province.vanban("node1", "create-agency --if-missing --code H29.31.01 --name 'UBND huyện thử 1' "
                                   "--abbreviation UBND").stdout
    assert "already present" in out
    province.vanban("node1", "create-user --agency H29.31.01 --username vanthu --full-name 'Văn thư' --roles clerk",
                    input="mat-khau-thu-1\nmat-khau-thu-1\n")
    status, url = _login_from_clerk(province, node1.address)
    assert status == "200" and url.endswith("/inbox")


def test_outsiders_see_only_the_allowed_ports(province):
    lab = province.lab
    node1, node2, hub = lab["node1"].address, lab["node2"].address, lab[HUB].address
    assert _probe(province, "clerk", node1, 443) == "open"
    for port in (22, 9100, 9101, 9090, 8080):
        assert _probe(province, "clerk", node1, port) == "filtered", port
    assert _probe(province, "clerk", node2, 443) == "filtered"  # not node2's agency LAN
    assert _probe(province, "clerk", hub, 8443) == "filtered"   # the exchange port is for the nodes only
    for address in (node1, node2, hub):
        for port in (22, 443, 80, 8443, 9101, 3310, 9090, 9093):
            assert _probe(province, "stranger", address, port) == "filtered", (address, port)
    drops = lab["node1"].run("nft list counter inet vanban input_dropped").stdout
    assert "packets 0 " not in drops


def test_hub_scrapes_metrics_and_nodes_cannot(province):
    lab = province.lab
    metrics = lab[HUB].run(f"curl -sf http://{lab['node1'].address}:9101/metrics").stdout
    assert "vanban_" in metrics
    assert lab["node2"].tcp_state(lab["node1"].address, 9101) == "filtered"
    for node in NODES:  # nodes reach the hub's exchange endpoint
        assert lab[node].tcp_state(lab[HUB].address, 8443) == "open", node
    assert lab["node2"].tcp_state(lab[HUB].address, 9093) == "open"  # and its Alertmanager
    assert lab["node2"].tcp_state(lab["node1"].address, 9090) == "filtered"  # but not each other's Prometheus


_PKI = "/var/lib/vanban/pki/exchange"


def test_documents_flow_between_agencies_through_the_hub(province):
    """What site.yml deployed: the hub's CA, endpoint (vanban-exchange, mutual TLS) and directory; every server's
    identity and exchange.toml. node1's agency sends to node2's agency through the hub; node2 keeps it exactly
    once, and the job workers carry node2's 01 (arrived) status back to node1 by themselves."""
    lab, hub = province.lab, province.lab[HUB]
    started = time.monotonic()
    assert hub.run("systemctl is-active vanban-exchange").stdout.strip() == "active"
    # The provincial CA is the hub's, root only; each server has an identity from it, for its own name.
    assert hub.run("stat -c '%U %a' /var/lib/vanban-exchange-ca /var/lib/vanban-exchange-ca/pki/root/ca.key.pem"
                   ).stdout.split() == ["root", "700", "root", "600"]
    root = hub.run("cat /var/lib/vanban-exchange-ca/pki/root/ca.crt").stdout
    for host in (HUB, *NODES):
        node = lab[host]
        assert node.run("test -e /var/lib/vanban-exchange-ca", check=False).returncode != 0 or host == HUB
        assert node.run(f"cat {_PKI}/ca.crt").stdout == root
        subject = node.run(f"openssl x509 -noout -subject -in {_PKI}/tls.crt").stdout
        assert f"CN = {host}" in subject, subject
        assert node.run(f"stat -c '%U %a' {_PKI}/tls.key {_PKI}/dsig.key").stdout.split() == ["vanban", "600"] * 2
    for node in NODES:
        toml = lab[node].run("cat /var/lib/vanban/exchange.toml").stdout
        assert f'node_name = "{node}"' in toml and f'hub_url = "https://{hub.address}:8443"' in toml, toml
    # No key or the root's passphrase in any playbook output.
    passphrase = hub.run("cat /var/lib/vanban-exchange-ca/pki/enroll/ca.pass").stdout.strip()
    for log in province.workdir.glob("*.log"):
        text = log.read_text()
        assert passphrase not in text and "PRIVATE KEY" not in text, log.name
    # Mutual TLS: without a certificate of the province the handshake fails; with node1's, the directory lists
    # every agency of the inventory with the node that hosts it.
    curl = f"curl -s --cacert {_PKI}/ca.crt https://{hub.address}:8443/exchange/v1/directory"
    assert lab["node1"].run(curl, check=False).returncode != 0
    directory = json.loads(lab["node1"].run(f"{curl} --cert {_PKI}/tls.crt --key {_PKI}/tls.key").stdout)
    assert {(a["code"], a["node"]) for a in directory["agencies"]} >= {("H29.31.01", "node1"), ("H29.32.01", "node2")}

    # A document from node1's agency to node2's, pushed and polled with the CLI (the job workers, which do the
    # same every minute, are held meanwhile so that the test knows who moved what).
    subject = "Cong van lien thong qua hub"
    for node in NODES:
        lab[node].run("systemctl stop vanban-worker")
    try:
        province.issue_outgoing("node1", "H29.31.01", "H29.32.01", "LT-1", subject)
        pushed = json.loads(province.vanban("node1", "exchange push").stdout.splitlines()[-1])
        assert pushed["sent"] == 1, pushed
        polled = json.loads(province.vanban("node2", "exchange poll").stdout.splitlines()[-1])
        assert polled["received"] == 1 and polled["refused"] == 0, polled
    finally:
        for node in NODES:
            lab[node].run("systemctl start vanban-worker")
    assert province.exchange_inbox("node2") == {subject: 1}
    # The 01 (arrived) status goes back by the job workers alone: node2's pushes it, node1's polls it.
    # (the only document node1 sent in this province)
    _wait_for("node1 sees node2's 01 status", lambda: [
        r for r in json.loads(province.vanban("node1", "exchange status").stdout)["receipts"]
        if r["recipient"] == "H29.32.01" and r["status"] == "01"], timeout=300)
    # Exactly once: node2's worker has polled since, still one copy; the hub relayed one package to H29.32.01.
    assert province.exchange_inbox("node2") == {subject: 1}
    assert province.sql(HUB, "select count(*) from hub_message where kind = 'package' and recipient = 'H29.32.01'"
                        ) == [["1"]]
    TIMES["exchange node1 -> hub -> node2, 01 back"] = time.monotonic() - started


def test_eicar_is_refused_by_the_apps_scanner(province):
    node1 = province.lab["node1"]
    node1.write_file("/var/lib/vanban/tmp-eicar.txt", EICAR)
    node1.run("chown vanban /var/lib/vanban/tmp-eicar.txt")
    code = ("from vanban.settings import load_settings; from vanban.antivirus import make_scanner; "
            "r = make_scanner(load_settings()).scan_file('/var/lib/vanban/tmp-eicar.txt'); print(r.clean, r.signature)")
    out = node1.run(f"VANBAN_CONFIG=/etc/vanban/vanban.toml runuser -u vanban -- /opt/vanban/current/bin/python -c \"{code}\"")
    assert out.stdout.split()[0] == "False" and "Eicar" in out.stdout
    node1.run("rm -f /var/lib/vanban/tmp-eicar.txt")


_UPLOAD = (
    "import requests, sys\n"
    "base, ca, register_id, eicar = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()\n"
    "r = requests.post(base + '/api/v1/auth/login', json={'username': 'vanthu', 'password': 'mat-khau-thu-1'},\n"
    "                  timeout=10, verify=ca)\n"
    "assert r.status_code == 200, r.text\n"
    "fields = {'register_id': register_id, 'issuer_name': 'UBND tỉnh thử', 'issuer_code': 'H29',\n"
    "          'number_notation': '12/UBND-VX', 'doc_date': '2026-03-05', 'doc_type': 'QD',\n"
    "          'subject': 'Quyết định thử tệp nhiễm mã độc', 'urgency': '0', 'confidentiality': '0',\n"
    "          'deadline': '2026-03-20', 'medium': 'electronic'}\n"
    "files = [('files', ('eicar.pdf', b'%PDF-1.4\\n' + eicar, 'application/pdf'))]\n"
    "r = requests.post(base + '/api/v1/documents', data=fields, files=files, timeout=30, verify=ca,\n"
    "                  headers={'Authorization': 'Bearer ' + r.json()['token']})\n"
    "print(r.status_code, r.json().get('error', {}).get('code'))\n")


def test_eicar_upload_through_the_web_is_refused(province):
    """A clerk registers an incoming document with the EICAR file, multipart over HTTPS through nginx."""
    node1 = province.lab["node1"]
    register_id = node1.run(
        "sqlite3 /var/lib/vanban/vanban.db \"select r.id from register r join agency a on a.id = r.agency_id "
        "where a.code = 'H29.31.01' and r.kind = 'incoming' and not r.confidential order by r.id limit 1\"").stdout.strip()
    assert register_id
    before = node1.run("sqlite3 /var/lib/vanban/vanban.db 'select count(*) from document'").stdout
    result = province.lab.outsiders["clerk"].run(
        [sys.executable, "-c", _UPLOAD, f"https://{node1.address}", str(province.ca_cert), register_id, EICAR],
        check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["422", "file_infected"]
    assert node1.run("sqlite3 /var/lib/vanban/vanban.db 'select count(*) from document'").stdout == before


def test_mixed_versions_are_refused(province):
    node2 = province.lab["node2"]
    node2.run("ln -sfn /opt/vanban/releases/0.0.9 /opt/vanban/current")
    try:
        run = province.play("upgrade.yml")
    finally:
        node2.run("ln -sfn /opt/vanban/releases/$(ls /opt/vanban/releases | head -1) /opt/vanban/current")
    assert run.rc != 0 and "mixed-version province" in run.output and "node2=0.0.9" in run.output


def test_broken_upgrade_is_rolled_back(province, tmp_path):
    lab = province.lab
    broken = snapshot_source(tmp_path / "broken")
    set_version(broken, "0.1.1")
    wsgi = broken / "app/vanban/wsgi.py"
    wsgi.write_text(wsgi.read_text() + "\nraise RuntimeError('deliberately broken release')\n")
    run = province.play("upgrade.yml", "-e", f"vanban_release_source={broken}", "-e", "vanban_upgrade_serial=1")
    TIMES["broken upgrade + rollback"] = run.seconds
    assert run.rc != 0
    assert "rolled back to 0.1.0" in run.output
    for host in (HUB, *NODES):
        health = json.loads(lab[host].run("curl -sk https://127.0.0.1/healthz").stdout)
        assert health["status"] == "ok" and health["version"] == "0.1.0", (host, health)
    assert lab[HUB].run("systemctl is-active vanban-exchange").stdout.strip() == "active"
    # The first batch failed, so the rollout stopped: the later hosts never received the release.
    untouched = [h for h in NODES if lab[h].run("test -d /opt/vanban/releases/0.1.1", check=False).returncode != 0]
    assert untouched, "rollout did not stop after the failed batch"
    # The failed host went back through its pre-upgrade borg archive (not the sqlite3 fallback): the archive
    # is in its local repository and the failed data directory is kept beside the restored one.
    failed = [h for h in (HUB, *NODES) if h not in untouched]
    for host in failed:
        archives = json.loads(_root_vanban(province, host, "backup list --repo local --json").stdout)["local"]
        assert any(a["name"].startswith("pre-upgrade-") for a in archives), (host, archives)
        assert lab[host].run("ls -d /var/lib/vanban.before-restore-*").stdout.strip(), host
    # Data written before the upgrade is still there (the clerk still logs in on node1).
    assert _login_from_clerk(province, lab["node1"].address)[0] == "200"
