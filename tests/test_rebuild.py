"""A node whose disk died is rebuilt from the hub's copy (issue 7 item 5; docs/rebuild.md).

Real province on lab hosts (tests/hostlab): a hub and two nodes converged by site.yml, which also deploys the
exchange between them (identities from the hub's provincial CA, the hub's vanban-exchange endpoint with mutual
TLS on 8443, its directory; the nodes' push and poll driven by the test), backups to the hub over real SSH.
Then node1's disk dies (its container is destroyed and a blank one boots with the same name and address),
playbooks/rebuild.yml brings it back with the passphrase recovered from escrow, and the exchange resumes (with
the identity the archive carries; the fresh host's own, issued by site.yml before the restore, is replaced).

Packages the test follows (node1 is rebuilt, the snapshot is the hub backup):
  A  node2 -> node1, received and acknowledged before the snapshot: back, and not fetched again
  B  node1 -> node2, sent before the snapshot
  E  node1 -> node2, queued before the snapshot, sent after it: sent again after the rebuild, the hub
     recognises the message id and node2 keeps one copy
  C  node2 -> node1, issued after the snapshot, not yet polled: delivered after the rebuild
  F  node2 -> node1, received and acknowledged after the snapshot: the hub keeps acknowledged bytes for a
     while and rebuild.yml has it queue them again (`vanban hub redeliver --since` the archive's time)
  H  node1 -> node2, issued after the rebuild: its outbox row reuses the id of one sent after the snapshot;
     delivered because a message id includes the row's creation time and document (outbox_message_id)
"""

import json
import subprocess
import sys
import time

import pytest

from hostlab.province import Province

pytestmark = [pytest.mark.hosts, pytest.mark.slow, pytest.mark.timeout(2400)]
pytest_plugins = ("hostlab.fixtures",)

HUB, NODES = "hub1", ["node1", "node2"]
AGENCY = {"node1": "H29.31.01", "node2": "H29.32.01"}
TIMES: dict[str, float] = {}
STATE: dict = {}


def _recovery_key(workdir):
    """The IT centre's recovery key pair, made at test time: RSA, key encrypted under a passphrase file."""
    key, cert, pass_file = workdir / "recovery.key", workdir / "recovery.crt", workdir / "recovery.pass"
    pass_file.write_text("recovery-key-passphrase-for-the-lab\n")
    pass_file.chmod(0o600)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:3072", "-keyout", str(key), "-out", str(cert),
                    "-days", "3650", "-subj", "/O=Trung tam CNTT tinh thu/CN=vanban backup recovery",
                    "-passout", f"file:{pass_file}"], check=True, capture_output=True)
    return key, cert, pass_file


@pytest.fixture(scope="module")
def province(module_lab_factory, tmp_path_factory):
    started = time.monotonic()
    lab = module_lab_factory([HUB, *NODES], name="rb")
    workdir = tmp_path_factory.mktemp("rebuild")
    lans = {"node1": f"{lab.subnet.network.network_address + 224}/28",
            "node2": f"{lab.subnet.network.network_address + 240}/28"}
    prov = Province(lab, workdir, HUB, NODES, lans)
    key, cert, pass_file = _recovery_key(workdir)
    prov.all_vars["vanban_backup_recovery_cert"] = cert.read_text()
    prov.inventory = prov.write_inventory("hosts.yml")
    STATE.update(recovery_key=key, recovery_pass=pass_file)
    TIMES["lab bring-up"] = time.monotonic() - started
    yield prov
    print("\nwall times: " + ", ".join(f"{k} {v:.0f}s" for k, v in TIMES.items()))


# ------------------------------------------------------------------------------------------------ helpers
def _root(prov, host, command, **kw):
    """The vanban CLI as root, like the backup units (only root reads the backup passphrase)."""
    return prov.lab[host].run(f"/opt/vanban/current/bin/vanban --config /etc/vanban/vanban.toml {command}", **kw)


def _issue(prov, node, to_node, number, subject) -> None:
    prov.issue_outgoing(node, AGENCY[node], AGENCY[to_node], number, subject)


def _push(prov, node) -> dict:
    return json.loads(prov.vanban(node, "exchange push").stdout.strip().splitlines()[-1])


def _poll(prov, node) -> dict:
    return json.loads(prov.vanban(node, "exchange poll").stdout.strip().splitlines()[-1])


def _start_exchange(prov) -> None:
    """site.yml deployed the exchange; the test adds a clerk on each node and stops the job workers, so it drives
    push and poll itself and decides what the hub still holds at each step."""
    lab = prov.lab
    assert lab[HUB].run("systemctl is-active vanban-exchange").stdout.strip() == "active"
    for node in NODES:
        prov.vanban(node, f"create-user --agency {AGENCY[node]} --username vanthu --full-name 'Văn thư' "
                          "--roles clerk", input="mat-khau-thu-1\nmat-khau-thu-1\n")
        lab[node].run("systemctl stop vanban-worker")
        assert lab[node].tcp_state(lab[HUB].address, 8443) == "open", node


# ------------------------------------------------------------------------------------------------ the story
def test_converge_with_escrow(province):
    run = province.play("site.yml")
    TIMES["first converge"] = run.seconds
    assert run.rc == 0, run.report()
    lab = province.lab
    passphrase = lab["node1"].run("cat /etc/vanban/backup.passphrase").stdout.strip()
    # The sealed copy is at the hub (root only) and on the controller, and opens only with the recovery key.
    sealed_hub = lab[HUB].run("stat -c '%U %a' /srv/vanban-escrow/node1.p7m").stdout.split()
    assert sealed_hub == ["root", "600"]
    sealed = (province.workdir / "escrow" / "node1.p7m").read_text()
    assert sealed == lab[HUB].run("cat /srv/vanban-escrow/node1.p7m").stdout
    assert "BEGIN CMS" in sealed and passphrase not in sealed
    opened = subprocess.run(["openssl", "cms", "-decrypt", "-inform", "PEM", "-inkey", str(STATE["recovery_key"]),
                             "-passin", f"file:{STATE['recovery_pass']}"], input=sealed, capture_output=True,
                            text=True)
    assert opened.returncode == 0 and opened.stdout.strip() == passphrase
    for log in province.workdir.glob("*.log"):
        assert passphrase not in log.read_text(), log.name


def test_exchange_then_backup_then_more_exchange(province):
    started = time.monotonic()
    _start_exchange(province)
    # Before the snapshot.
    _issue(province, "node2", "node1", "1", "A truoc sao luu")
    assert _push(province, "node2")["sent"] == 1
    assert _poll(province, "node1")["received"] >= 1
    _issue(province, "node1", "node2", "2", "B truoc sao luu")
    assert _push(province, "node1")["sent"] == 2                 # B, and the 01 (arrived) status for A
    assert _poll(province, "node2")["received"] >= 1
    _issue(province, "node1", "node2", "3", "E gui sau sao luu")  # queued, not pushed yet
    STATE["documents"] = int(province.sql("node1", "select count(*) from document")[0][0])
    now = _root(province, "node1", "backup now --repo hub --quiet", check=False)
    assert now.returncode == 0, now.stdout + now.stderr
    STATE["snapshot"] = json.loads(_root(province, "node1", "backup list --repo hub --json").stdout)["hub"][-1]["name"]
    # After the snapshot.
    assert _push(province, "node1")["sent"] >= 1                 # E leaves
    assert _poll(province, "node2")["received"] >= 1
    _issue(province, "node2", "node1", "4", "F nhan sau sao luu")
    _push(province, "node2")
    assert _poll(province, "node1")["received"] >= 1             # F received and acknowledged
    _issue(province, "node2", "node1", "5", "C cho tai hub")
    _push(province, "node2")                                     # C waits at the hub
    _issue(province, "node1", "node2", "6", "G gui sau sao luu")
    _push(province, "node1")
    _poll(province, "node2")
    assert set(province.exchange_inbox("node2")) == {"B truoc sao luu", "E gui sau sao luu", "G gui sau sao luu"}
    assert set(province.exchange_inbox("node1")) == {"A truoc sao luu", "F nhan sau sao luu"}
    TIMES["exchange + backup"] = time.monotonic() - started


def test_dead_disk_is_rebuilt_from_the_hub(province):
    lab = province.lab
    started = time.monotonic()
    lab.replace_disk("node1")
    assert lab["node1"].run("test -e /var/lib/vanban || test -e /etc/vanban", check=False).returncode != 0
    TIMES["disk replaced"] = time.monotonic() - started
    run = province.play("rebuild.yml", "--limit", f"{HUB},node1,localhost", "-e", "node=node1",
                        "-e", f"vanban_recovery_key={STATE['recovery_key']}",
                        "-e", f"vanban_recovery_key_pass_file={STATE['recovery_pass']}")
    TIMES["rebuild.yml"] = run.seconds
    assert run.rc == 0, run.report()
    passphrase = lab["node1"].run("cat /etc/vanban/backup.passphrase").stdout.strip()
    for log in province.workdir.glob("*.log"):
        assert passphrase not in log.read_text(), log.name
    assert STATE["snapshot"] in run.output
    # The documents of the snapshot are back, with their files intact, and the node is healthy.
    assert int(province.sql("node1", "select count(*) from document")[0][0]) == STATE["documents"]
    health = json.loads(lab["node1"].run("curl -sk https://127.0.0.1/healthz").stdout)
    assert health["status"] == "ok"
    assert lab["node1"].run("systemctl is-active vanban-backup.timer vanban-drill.timer").stdout.split() == \
        ["active", "active"]
    # The new host's key replaced the dead one's at the hub; the node backs up there again.
    listed = json.loads(_root(province, "node1", "backup list --repo hub --json").stdout)["hub"]
    assert STATE["snapshot"] in [a["name"] for a in listed] and listed[-1]["name"] != STATE["snapshot"]


def test_exchange_resumes_without_duplicates(province):
    lab = province.lab
    lab["node1"].run("systemctl stop vanban-worker")
    # E was queued in the snapshot: it goes again, the hub knows its message id, node2 keeps one copy.
    pushed = _push(province, "node1")
    assert pushed["failed"] == 0, pushed
    polled = _poll(province, "node1")
    assert polled["refused"] == 0, polled
    _poll(province, "node2")
    inbox1, inbox2 = province.exchange_inbox("node1"), province.exchange_inbox("node2")
    assert inbox1.get("A truoc sao luu") == 1        # restored, not fetched twice
    assert inbox1.get("C cho tai hub") == 1          # waited at the hub, delivered once
    for subject in ("B truoc sao luu", "E gui sau sao luu", "G gui sau sao luu"):
        assert inbox2.get(subject) == 1, inbox2      # nothing duplicated at the receiver
    # Statuses re-sent from the restored outbox are recognised by their message ids too.
    dup = province.sql(HUB, "select message_id, recipient, count(*) from hub_message "
                              "group by message_id, recipient having count(*) > 1")
    assert dup == []
    # New traffic both ways.
    _issue(province, "node2", "node1", "7", "K sau khoi phuc")
    _push(province, "node2")
    assert _poll(province, "node1")["received"] >= 1
    assert province.exchange_inbox("node1").get("K sau khoi phuc") == 1


def test_package_acknowledged_after_the_snapshot_comes_back(province):
    _poll(province, "node1")
    assert province.exchange_inbox("node1").get("F nhan sau sao luu") == 1


def test_new_outgoing_after_the_rebuild_is_delivered(province):
    _issue(province, "node1", "node2", "8", "H sau khoi phuc")
    _push(province, "node1")
    _poll(province, "node2")
    assert province.exchange_inbox("node2").get("H sau khoi phuc") == 1


def test_restore_drill_on_the_rebuilt_node(province):
    node1 = province.lab["node1"]
    started = time.monotonic()
    node1.run("systemctl start vanban-drill.service", timeout=900)
    TIMES["restore drill"] = time.monotonic() - started
    metrics = node1.run("cat /var/lib/prometheus/node-exporter/vanban_restore_drill.prom").stdout
    values = dict(line.split(" ", 1) for line in metrics.splitlines() if not line.startswith("#"))
    assert float(values["vanban_restore_drill_success"]) == 1.0, metrics
    assert abs(float(values["vanban_restore_drill_last_success_timestamp_seconds"]) - time.time()) < 900


def test_node_key_cannot_delete_its_history_at_the_hub(province):
    """Over the real SSH path: the node's own credentials run delete and prune against its hub repository;
    the archives disappear from the node's view but every segment stays, and a whole-repository delete is
    refused by the forced `borg serve --append-only`."""
    lab = province.lab
    segments = "find /srv/borg/node1/data -type f -printf '%P %s\\n' | sort"
    before = lab[HUB].run(segments).stdout
    env = ("BORG_PASSCOMMAND='cat /etc/vanban/backup.passphrase' BORG_BASE_DIR=/var/lib/vanban-backup "
           "BORG_RSH=\"$(sed -n 's/^rsh = \"\\(.*\\)\"$/\\1/p' /etc/vanban/backup.toml)\" "
           "BORG_DELETE_I_KNOW_WHAT_I_AM_DOING=YES")
    url = json.loads(_root(province, "node1", "backup list --repo hub --json").stdout)["hub"][0]["name"]
    repo = lab["node1"].run("sed -n 's/^hub_repo = \"\\(.*\\)\"$/\\1/p' /etc/vanban/backup.toml").stdout.strip()
    whole = lab["node1"].run(f"{env} borg delete {repo}", check=False)
    assert whole.returncode != 0 and "append-only" in whole.stderr, whole.stderr
    lab["node1"].run(f"{env} borg prune --keep-last 1 {repo}")
    lab["node1"].run(f"{env} borg delete {repo}::{url}", check=False)
    after = dict(line.split() for line in lab[HUB].run(segments).stdout.splitlines())
    for line in before.splitlines():
        name, size = line.split()
        assert after.get(name) == size, (name, size)  # no segment removed or shrunk


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-x", "-p", "no:randomly", "-s"]))
