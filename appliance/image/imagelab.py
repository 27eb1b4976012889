"""Stage 2: boot the image's root as a container with the test-host harness and converge it.

The harness (tests/hostlab) boots every host from its shared base root; here the lower layer is the
image's own root instead, so the roles run against exactly the system that ends up on the disk.
Everything the container writes lands in the host's overlay upper layer; the merged view is copied
out after a clean shutdown.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from hostlab import lab as hostlab  # noqa: E402
from hostlab import net  # noqa: E402
from hostlab.cacher import AptCacher  # noqa: E402
from hostlab.net import sh  # noqa: E402

HOST = "vanban-image"


class ImageLab(hostlab.Lab):
    """A one-host lab whose host boots from `make_lower(proxy_url)` (built through the lab's apt cache)."""

    def __init__(self, make_lower: Callable[[str], Path]):
        super().__init__([HOST], name="image")
        self.make_lower = make_lower

    def start(self) -> None:
        # Same bring-up as Lab.start, except where the lower root comes from.
        started = time.monotonic()
        self.dir.mkdir(parents=True)
        self.subnet = net.Subnet()
        net.create_bridge(self.bridge, self.subnet.gateway, self.subnet.network.prefixlen)
        self._save_state()
        self.cacher = AptCacher(self.cache_root, self.dir, ["127.0.0.1", self.subnet.gateway], self.subnet.slot)
        self.cacher.start()
        self._save_state()
        mark = time.monotonic()
        self.lower = self.make_lower(self.cacher.local_url)
        self.timings["base"] = time.monotonic() - mark
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"vanban-image-{self.id}", "-f", str(self.key))
        self.hosts = {name: hostlab.Host(self, name, index) for index, name in enumerate(self.host_names)}
        for host in self.hosts.values():
            self._boot(host)
        self.wait_ssh()
        self.timings["bring_up"] = time.monotonic() - started

    def _personalise(self, host: hostlab.Host) -> None:
        super()._personalise(host)
        # In a lab container networkd reports eth0 "failed" (the harness configured the address
        # already: "Failed to configure address: Numerical result out of range"), so anything waiting
        # for network-online.target (clamav-freshclam's postinst) would hang 120 s. Build-only drop-in;
        # seal.sh removes it.
        dropin = host.root / "etc/systemd/system/systemd-networkd-wait-online.service.d"
        dropin.mkdir(parents=True, exist_ok=True)
        (dropin / "10-vanban-image-build.conf").write_text(
            "[Service]\nExecStart=\nExecStart=/lib/systemd/systemd-networkd-wait-online --timeout=1\n"
            "SuccessExitStatus=1\n")

    def stop_host(self) -> None:
        """Clean shutdown of the container (SIGTERM makes nspawn ask systemd to power off)."""
        host = self[HOST]
        if host.proc and host.proc.poll() is None:
            host.proc.send_signal(signal.SIGTERM)
            host.proc.wait(60)


def image_vars(lab: ImageLab) -> dict:
    """Inventory variables of the image host: see playbooks/image.yml for what each one does."""
    return {
        # The converge reaches the container from the lab bridge; admin networks must contain it,
        # or the firewall role would (rightly) refuse rules that lock the controller out.
        "vanban_admin_networks": [str(lab.subnet.network)],
        "vanban_app__role": "node",
    }


def converge(lab: ImageLab, work: Path, log: Path, extra_args: list[str] | None = None) -> float:
    """Run playbooks/image.yml against the container; returns seconds taken."""
    inventory = lab.write_inventory(work / "inventory.yml", {"image": [HOST]}, host_vars={HOST: image_vars(lab)})
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "playbooks/ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["PATH"] = f"{REPO / '.venv/bin'}:{env.get('PATH', '')}"
    cmd = [str(REPO / ".venv/bin/ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks/image.yml"),
           *(extra_args or [])]
    started = time.monotonic()
    with open(log, "wb") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO / "playbooks")
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"converge failed ({result.returncode}); see {log}\n{tail}")
    return time.monotonic() - started


def copy_out(lab: ImageLab, dest: Path) -> float:
    """Copy the stopped container's merged root (lower + upper) to `dest`, keeping links and xattrs."""
    started = time.monotonic()
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    subprocess.run(["cp", "-a", "--preserve=all", f"{lab[HOST].root}/.", str(dest)], check=True)
    return time.monotonic() - started
