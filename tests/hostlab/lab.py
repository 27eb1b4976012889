"""A lab of real Debian hosts: systemd-nspawn containers, one network namespace each, on a bridge.

    with Lab(["hub", "node1"]) as lab:
        lab["node1"].run("systemctl is-system-running --wait")
        lab.write_inventory(tmp / "hosts.yml", {"hub": ["hub"], "nodes": ["node1"]})

Everything the lab creates (processes, overlay mounts, namespaces, bridge, cgroups, run directory)
is recorded in a state file and removed on exit, also when bring-up fails half way.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import yaml

from . import base, cgroups, net
from .cacher import AptCacher
from .errors import LabError
from .net import sh

REQUIRED_TOOLS = ("mmdebstrap", "systemd-nspawn", "ip", "ssh", "ssh-keygen", "apt-cacher-ng", "mount")
WORK_ROOT = Path("/var/tmp/vanban-lab")

# Probe run inside a host or namespace: prints open, refused or filtered for one TCP port.
_TCP_PROBE = (
    "import socket,sys\n"
    "s=socket.socket(); s.settimeout(float(sys.argv[3]))\n"
    "try:\n s.connect((sys.argv[1], int(sys.argv[2]))); print('open')\n"
    "except ConnectionRefusedError: print('refused')\n"
    "except OSError: print('filtered')\n"
)


def missing_tools() -> list[str]:
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


def check_prerequisites() -> None:
    """Raise LabError unless we are root and every tool is installed (the Makefile installs them)."""
    if os.geteuid() != 0:
        raise LabError("the host lab needs root (network namespaces, mounts, systemd-nspawn)")
    missing = missing_tools()
    if missing:
        raise LabError(f"missing tools for the host lab: {', '.join(missing)} (run `make debs`)")


class Endpoint:
    """Something on the lab bridge that can open TCP connections: a host or an outsider."""

    address: str

    def tcp_state(self, address: str, port: int, timeout: float = 1.0) -> str:
        """'open', 'refused' (RST) or 'filtered' (no answer) for address:port seen from here."""
        result = self._exec(["python3", "-c", _TCP_PROBE, address, str(port), str(timeout)])
        return result.stdout.strip()

    def _exec(self, argv: list[str]) -> subprocess.CompletedProcess:
        raise NotImplementedError


class Outsider(Endpoint):
    """A bare network namespace on the bridge, using the controller's own binaries."""

    def __init__(self, name: str, netns: str, address: str):
        self.name, self.netns, self.address = name, netns, address

    def run(self, argv: list[str], check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        result = subprocess.run(["ip", "netns", "exec", self.netns, *argv], capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise LabError(f"{self.name}: {argv} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def _exec(self, argv):
        return self.run(argv, check=False)


class Host(Endpoint):
    """One booted container. `run` executes a shell command as root over SSH."""

    def __init__(self, lab: Lab, name: str, index: int):
        self.lab, self.name, self.index = lab, name, index
        self.address = lab.subnet.host_address(index)
        self.netns = f"{lab.id}-{name}"[:40]
        self.veth = f"vl{lab.id[-6:]}{index}"  # interface names are limited to 15 characters
        self.dir = lab.dir / "hosts" / name
        self.root = self.dir / "root"
        self.proc: subprocess.Popen | None = None

    def ssh_argv(self) -> list[str]:
        return ["ssh", "-i", str(self.lab.key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
                f"root@{self.address}"]

    def run(self, command: str, check: bool = True, timeout: float = 300,
            input: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([*self.ssh_argv(), command], capture_output=True, text=True,
                                timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise LabError(f"{self.name}: `{command}` failed ({result.returncode}): "
                           f"{(result.stderr or result.stdout).strip()[-2000:]}")
        return result

    def write_file(self, path: str, text: str, mode: str = "0644") -> None:
        self.run(f"install -D -m {mode} /dev/stdin {path}", input=text)

    def _exec(self, argv):
        import shlex
        return self.run(shlex.join(argv), check=False)

    def ssh_ready(self) -> bool:
        try:
            return self.run("true", check=False, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False


class Lab:
    """Context manager that brings up `hosts` (names) and tears all of it down on exit."""

    def __init__(self, hosts: list[str], *, name: str = "lab", cache_root: Path = base.CACHE_ROOT,
                 keep: bool | None = None):
        if len(set(hosts)) != len(hosts) or not hosts:
            raise LabError(f"host names must be unique and non-empty: {hosts}")
        self.id = f"{name[:6]}{secrets.token_hex(3)}"
        self.host_names = list(hosts)
        self.cache_root = cache_root
        self.dir = WORK_ROOT / self.id
        self.bridge = f"vb-{self.id}"[:15]
        self.hosts: dict[str, Host] = {}
        self.outsiders: dict[str, Outsider] = {}
        self.cacher: AptCacher | None = None
        self.subnet: net.Subnet | None = None
        self.key = self.dir / "id_ed25519"
        self.timings: dict[str, float] = {}
        # VANBAN_LAB_KEEP=1 leaves a failed lab running for a post-mortem (then clean with teardown()).
        self.keep = keep if keep is not None else os.environ.get("VANBAN_LAB_KEEP") == "1"

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __enter__(self) -> Lab:
        check_prerequisites()
        try:
            self.start()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self.keep:
            print(f"VANBAN_LAB_KEEP: lab {self.id} left running in {self.dir}")
            return
        self.teardown()

    # -- bring-up ---------------------------------------------------------------------------------
    def start(self) -> None:
        started = time.monotonic()
        self.dir.mkdir(parents=True)
        self.subnet = net.Subnet()
        net.create_bridge(self.bridge, self.subnet.gateway, self.subnet.network.prefixlen)
        self._save_state()
        self.cacher = AptCacher(self.cache_root, self.dir, ["127.0.0.1", self.subnet.gateway], self.subnet.slot)
        self.cacher.start()
        self._save_state()
        mark = time.monotonic()
        self.lower = base.ensure_base(proxy=self.cacher.local_url, cache_root=self.cache_root)
        self.timings["base"] = time.monotonic() - mark
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"vanban-lab-{self.id}", "-f", str(self.key))
        # All hosts exist before the first boots, so each /etc/hosts names every lab host.
        self.hosts = {name: Host(self, name, index) for index, name in enumerate(self.host_names)}
        for host in self.hosts.values():
            self._boot(host)
        self.wait_ssh()
        self.timings["bring_up"] = time.monotonic() - started

    def _boot(self, host: Host) -> None:
        prefix = self.subnet.network.prefixlen
        net.attach_namespace(host.netns, self.bridge, host.veth, host.address, prefix)
        for sub in ("upper", "work", "root"):
            (host.dir / sub).mkdir(parents=True, exist_ok=True)
        self._start_container(host)

    def _start_container(self, host: Host) -> None:
        """Mount the host's overlay on the shared base, write its identity and boot it in its namespace."""
        sh("mount", "-t", "overlay", "overlay", "-o",
           f"lowerdir={self.lower},upperdir={host.dir / 'upper'},workdir={host.dir / 'work'}", str(host.root))
        self._personalise(host)
        cgroup_dirs = cgroups.create(self.id, host.name)
        log = open(host.dir / "console.log", "ab")
        host.proc = subprocess.Popen(
            ["systemd-nspawn", "-q", "-b", "-D", str(host.root), f"--machine={self.id}-{host.name}"[:64],
             "--register=no", "--keep-unit", f"--network-namespace-path=/run/netns/{host.netns}",
             "--console=read-only", "--resolv-conf=off", "--capability=CAP_NET_ADMIN",
             # The host has no zone to share, and tzdata must be able to replace /etc/localtime.
             "--timezone=off"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            # TESTHOSTS.md fix 3: own cgroup per container, or units fail with status=219/CGROUP.
            preexec_fn=lambda: cgroups.enter(cgroup_dirs))
        log.close()
        self._save_state()

    def replace_disk(self, name: str) -> None:
        """The host's disk dies: its container stops for good, its whole file system (the overlay's upper
        layer) is thrown away, and a blank Debian host boots with the same name, address and admin key."""
        host = self.hosts[name]
        _close_control_masters(self.dir)
        host.proc.send_signal(signal.SIGTERM)
        try:
            host.proc.wait(30)
        except subprocess.TimeoutExpired:
            host.proc.kill()
            host.proc.wait(10)
        cgroups.kill(self.id, name)
        for _ in range(50):
            if sh("umount", str(host.root), check=False).returncode == 0:
                break
            time.sleep(0.2)
        for sub in ("upper", "work"):
            shutil.rmtree(host.dir / sub)
            (host.dir / sub).mkdir()
        self._start_container(host)
        self.wait_ssh()

    def _personalise(self, host: Host) -> None:
        """Per-host files written into the overlay before boot: identity, address, key, apt proxy."""
        root = host.root
        (root / "etc/hostname").write_text(host.name + "\n")
        (root / "etc/machine-id").write_text(secrets.token_hex(16) + "\n")
        hosts = "127.0.0.1 localhost\n" + "".join(f"{h.address} {h.name}\n" for h in self.hosts.values())
        (root / "etc/hosts").write_text(hosts)
        (root / "etc/systemd/network").mkdir(parents=True, exist_ok=True)
        # IPv6AcceptRA=no: without it anything waiting for network-online.target hangs 120 s.
        (root / "etc/systemd/network/10-lab.network").write_text(
            f"[Match]\nName=eth0\n\n[Network]\nAddress={host.address}/{self.subnet.network.prefixlen}\n"
            "IPv6AcceptRA=no\nLinkLocalAddressing=no\n")
        (root / "etc/apt/apt.conf.d/01vanban-lab-proxy").write_text(
            f'Acquire::http::Proxy "{self.cacher.url}";\n')
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(Path(str(self.key) + ".pub").read_text())
        sh("ssh-keygen", "-A", "-f", str(root))

    def wait_ssh(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        pending = dict(self.hosts)
        while pending and time.monotonic() < deadline:
            for name, host in list(pending.items()):
                if host.proc.poll() is not None:
                    log = (host.dir / "console.log").read_text(errors="replace")
                    raise LabError(f"{name}: systemd-nspawn exited ({host.proc.returncode}): {log[-2000:]}")
                if host.ssh_ready():
                    del pending[name]
            if pending:
                time.sleep(0.2)
        if pending:
            raise LabError(f"SSH not ready within {timeout}s on: {', '.join(pending)}")

    def outsider(self, name: str = "outsider") -> Outsider:
        """A namespace on the bridge with an address in no configured network (or use .address)."""
        if name in self.outsiders:
            return self.outsiders[name]
        index = len(self.outsiders)
        netns = f"{self.id}-o{index}"
        out = Outsider(name, netns, self.subnet.outsider_address(index))
        self.outsiders[name] = out
        self._save_state()
        net.attach_namespace(netns, self.bridge, f"vo{self.id[-6:]}{index}", out.address,
                             self.subnet.network.prefixlen)
        return out

    # -- Ansible ----------------------------------------------------------------------------------
    def connection_vars(self) -> dict:
        return {
            "ansible_user": "root",
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_private_key_file": str(self.key),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            # Our own control socket directory, so teardown can close the masters Ansible leaves behind.
            "ansible_control_path_dir": str(self.dir / "cp"),
        }

    def write_inventory(self, path: Path, groups: dict[str, list[str]], *, host_vars: dict | None = None,
                        group_vars: dict | None = None, all_vars: dict | None = None) -> Path:
        """Write a YAML inventory: every lab host with its address, the given groups and variables."""
        host_vars = host_vars or {}
        hosts = {name: {"ansible_host": h.address, **host_vars.get(name, {})} for name, h in self.hosts.items()}
        children = {}
        for group, members in groups.items():
            unknown = set(members) - set(self.hosts)
            if unknown:
                raise LabError(f"group {group} names hosts not in the lab: {sorted(unknown)}")
            children[group] = {"hosts": {m: None for m in members}, "vars": (group_vars or {}).get(group, {})}
        data = {"all": {"hosts": hosts, "vars": {**self.connection_vars(), **(all_vars or {})},
                        "children": children}}
        path = Path(path)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    # -- teardown ---------------------------------------------------------------------------------
    def _save_state(self) -> None:
        state = {"id": self.id, "pid": os.getpid(), "dir": str(self.dir), "bridge": self.bridge,
                 "netns": [h.netns for h in self.hosts.values()] + [o.netns for o in self.outsiders.values()],
                 "mounts": [str(h.root) for h in self.hosts.values()],
                 "nspawn": [h.proc.pid for h in self.hosts.values() if h.proc],
                 "cacher": self.cacher.proc.pid if self.cacher and self.cacher.proc else None}
        net.RUN_ROOT.mkdir(parents=True, exist_ok=True)
        (net.RUN_ROOT / f"{self.id}.json").write_text(json.dumps(state))

    def teardown(self) -> None:
        for host in self.hosts.values():
            if host.proc and host.proc.poll() is None:
                host.proc.send_signal(signal.SIGTERM)  # clean shutdown of the container's systemd
        for host in self.hosts.values():
            if host.proc:
                try:
                    host.proc.wait(15)
                except subprocess.TimeoutExpired:
                    host.proc.kill()
                    host.proc.wait(5)
        cleanup_state(net.RUN_ROOT / f"{self.id}.json")
        if self.cacher:
            self.cacher.stop()
        if self.subnet:
            self.subnet.release()


def _close_control_masters(lab_dir: Path) -> None:
    for sock in (lab_dir / "cp").glob("*") if (lab_dir / "cp").is_dir() else []:
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "lab"], capture_output=True)


def cleanup_state(state_file: Path) -> None:
    """Remove whatever a lab's state file lists; safe to call twice and on a crashed lab."""
    if not state_file.exists():
        return
    state = json.loads(state_file.read_text())
    lab_dir = Path(state["dir"])
    _close_control_masters(lab_dir)
    if state.get("cacher"):
        _kill_if_named(state["cacher"], "apt-cacher-ng")
    for pid in state["nspawn"]:
        _kill_if_nspawn(pid)
    cgroups.remove(state["id"])
    for mount in state["mounts"]:
        if os.path.ismount(mount):
            if sh("umount", mount, check=False).returncode != 0:
                sh("umount", "-l", mount, check=False)
    for netns in state["netns"]:
        net.delete_namespace(netns)
    net.delete_link(state["bridge"])
    shutil.rmtree(lab_dir, ignore_errors=True)
    state_file.unlink(missing_ok=True)


def _kill_if_nspawn(pid: int) -> None:
    _kill_if_named(pid, "systemd-nspawn")


def _kill_if_named(pid: int, program: str) -> None:
    try:
        if program not in Path(f"/proc/{pid}/cmdline").read_text():
            return  # already gone, and the pid may belong to someone else now
        os.kill(pid, signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError):
        pass


def cleanup_stale() -> list[str]:
    """Tear down labs whose owning process died (a killed test run); returns their ids."""
    removed = []
    for state_file in net.RUN_ROOT.glob("*.json"):
        state = json.loads(state_file.read_text())
        if not Path(f"/proc/{state['pid']}").exists():
            cleanup_state(state_file)
            removed.append(state["id"])
    return removed
