"""The test-host harness itself: two real hosts talk to each other and leave nothing behind."""

import os
import subprocess
from pathlib import Path

import pytest

from hostlab import cgroups, net

pytestmark = [pytest.mark.hosts, pytest.mark.slow]
pytest_plugins = ("hostlab.fixtures",)


def _leftovers(lab_id: str, bridge: str, netns: list[str], lab_dir: Path) -> list[str]:
    found = [f"netns {n}" for n in netns if net.netns_exists(n)]
    if net.link_exists(bridge):
        found.append(f"bridge {bridge}")
    if cgroups.exists(lab_id):
        found.append("cgroups")
    if lab_dir.exists():
        found.append(f"dir {lab_dir}")
    mounts = Path("/proc/mounts").read_text()
    if str(lab_dir) in mounts:
        found.append("overlay mounts")
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    if lab_id in procs:
        found.append("processes")
    return found


def test_two_hosts_reach_each_other_and_teardown_is_clean(lab_factory):
    lab = lab_factory(["alpha", "beta"], name="hl")
    alpha, beta = lab["alpha"], lab["beta"]
    assert alpha.run("hostname").stdout.strip() == "alpha"
    assert alpha.run("systemctl is-system-running --wait", check=False).stdout.strip() == "running"

    # Packages come through the lab's apt-cacher-ng (no host has a resolver or a route out).
    alpha.run("apt-get -q update && apt-get install -y -q iputils-ping")
    assert "1 received" in alpha.run(f"ping -c 1 -W 2 {beta.address}").stdout
    assert "1 received" in alpha.run("ping -c 1 -W 2 beta").stdout  # names from the lab's /etc/hosts

    # SSH between hosts with the lab key.
    alpha.write_file("/root/.ssh/id_ed25519", lab.key.read_text(), mode="0600")
    ssh = "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    assert alpha.run(f"{ssh} root@{beta.address} hostname").stdout.strip() == "beta"

    outsider = lab.outsider()
    assert outsider.tcp_state(beta.address, 22) == "open"
    assert outsider.tcp_state(beta.address, 23) == "refused"

    inventory = lab.write_inventory(lab.dir / "hosts.yml", {"nodes": ["alpha", "beta"]})
    ping = subprocess.run(
        [os.path.join(os.path.dirname(os.sys.executable), "ansible"), "-i", str(inventory), "nodes",
         "-m", "ansible.builtin.ping"], capture_output=True, text=True, timeout=120)
    assert ping.returncode == 0, ping.stdout + ping.stderr

    ids = (lab.id, lab.bridge, [alpha.netns, beta.netns, outsider.netns], lab.dir)
    lab.teardown()
    assert _leftovers(*ids) == []


def test_two_labs_do_not_collide(lab_factory):
    first = lab_factory(["solo"], name="c1")
    second = lab_factory(["solo"], name="c2")
    assert first.subnet.network != second.subnet.network
    assert first.bridge != second.bridge
    assert first.cacher.port != second.cacher.port
    assert first["solo"].run("hostname").stdout.strip() == "solo"
    assert second["solo"].run("hostname").stdout.strip() == "solo"
