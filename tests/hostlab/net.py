"""Bridge, network namespaces and veth pairs of one lab, all inside 198.18.0.0/15.

A lab owns one /24, 198.18.<slot>.0/24 (slot 0-255, plus 198.19.x for slots 256-511), chosen under
a file lock so two labs never share addresses; the bridge takes .1, hosts .10 upwards and
outsiders .200 upwards.
"""

from __future__ import annotations

import fcntl
import ipaddress
import subprocess
from pathlib import Path

from .errors import LabError

LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")
RUN_ROOT = Path("/run/vanban-lab")


def sh(*argv: str, check: bool = True, netns: str | None = None) -> subprocess.CompletedProcess:
    """Run a command (optionally inside a network namespace), raising LabError with its stderr."""
    cmd = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


class Subnet:
    """A /24 of the benchmarking range reserved for one lab while its lock file is held."""

    def __init__(self):
        RUN_ROOT.mkdir(parents=True, exist_ok=True)
        used = sh("ip", "-4", "-o", "addr", "show").stdout
        for slot in range(512):
            net = ipaddress.ip_network(f"198.{18 + slot // 256}.{slot % 256}.0/24")
            if f" {net.network_address + 1}/" in used:
                continue  # a stale bridge from a crashed run still holds it
            lock = open(RUN_ROOT / f"subnet-{slot}.lock", "w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            self.slot, self.network, self._lock = slot, net, lock
            return
        raise LabError("no free /24 left in 198.18.0.0/15")

    @property
    def gateway(self) -> str:
        return str(self.network.network_address + 1)

    def host_address(self, index: int) -> str:
        return str(self.network.network_address + 10 + index)

    def outsider_address(self, index: int) -> str:
        return str(self.network.network_address + 200 + index)

    def release(self) -> None:
        if self._lock:
            self._lock.close()
            self._lock = None


def create_bridge(name: str, address: str, prefix: int) -> None:
    sh("ip", "link", "add", name, "type", "bridge")
    sh("ip", "addr", "add", f"{address}/{prefix}", "dev", name)
    sh("ip", "link", "set", name, "up")


def attach_namespace(netns: str, bridge: str, host_if: str, address: str, prefix: int) -> None:
    """Create a namespace whose eth0 is a veth wired to the bridge, with its address set."""
    sh("ip", "netns", "add", netns)
    peer = host_if + "p"
    sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer)
    sh("ip", "link", "set", peer, "netns", netns)
    sh("ip", "link", "set", host_if, "master", bridge)
    sh("ip", "link", "set", host_if, "up")
    sh("ip", "link", "set", peer, "name", "eth0", netns=netns)
    sh("ip", "addr", "add", f"{address}/{prefix}", "dev", "eth0", netns=netns)
    sh("ip", "link", "set", "eth0", "up", netns=netns)
    sh("ip", "link", "set", "lo", "up", netns=netns)


def delete_namespace(netns: str) -> None:
    # Deleting the namespace destroys its veth end, and the kernel removes the peer with it.
    sh("ip", "netns", "delete", netns, check=False)


def delete_link(name: str) -> None:
    sh("ip", "link", "delete", name, check=False)


def link_exists(name: str) -> bool:
    return sh("ip", "link", "show", name, check=False).returncode == 0


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()
