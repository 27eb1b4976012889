"""Boot the built image in qemu (software emulation: this machine has no usable KVM) for tests and benchmarks.

Each VM runs on a copy-on-write overlay of the image, so one image boots many times as new servers.
Networking is qemu's user mode: the guest reaches nothing, and its SSH and HTTPS ports are forwarded to
127.0.0.1 only. The guest sees those connections coming from 10.0.2.2.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

GUEST_PEER = "10.0.2.2"  # where forwarded connections come from, as the guest sees them
GUEST_NET = "10.0.2.0/24"
HEALTHY_MARK = "vanban-firstboot: HEALTHY"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_disk(seed_text: str, path: Path) -> Path:
    """A 2 MiB FAT disk labelled VANBAN-SEED with seed.toml, made with mtools (no mount)."""
    path.unlink(missing_ok=True)
    subprocess.run(["mkfs.fat", "-C", "-n", "VANBAN-SEED", str(path), "2048"], check=True, capture_output=True)
    src = path.with_suffix(".toml")
    src.write_text(seed_text)
    subprocess.run(["mcopy", "-i", str(path), str(src), "::/seed.toml"], check=True, capture_output=True,
                   env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    src.unlink()
    return path


class VM:
    def __init__(self, image: Path, work: Path, name: str, *, seed: Path | None = None, memory_mb: int = 2048,
                 uefi: bool = False, disk_gb: int = 8):
        self.image, self.work, self.name, self.seed, self.disk_gb = image, work, name, seed, disk_gb
        self.memory_mb, self.uefi = memory_mb, uefi
        self.disk = work / f"{name}.qcow2"
        self.console = work / f"{name}.console.log"
        self.ssh_port, self.https_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    def argv(self) -> list[str]:
        fmt = "qcow2" if self.image.suffix == ".qcow2" else "raw"
        # A server's disk is larger than the image; first boot grows the root to fill it.
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(self.image.resolve()), "-F", fmt,
                        str(self.disk), f"{self.disk_gb}G"], check=True)
        argv = ["qemu-system-x86_64", "-machine", "pc,accel=tcg", "-cpu", "qemu64", "-smp", "1",
                "-m", str(self.memory_mb), "-display", "none", "-monitor", "none",
                "-serial", f"file:{self.console}", "-no-reboot",
                "-drive", f"file={self.disk},if=virtio,format=qcow2",
                "-nic", f"user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22,"
                        f"hostfwd=tcp:127.0.0.1:{self.https_port}-:443"]
        if self.seed:
            argv += ["-drive", f"file={self.seed},if=virtio,format=raw,readonly=on"]
        if self.uefi:
            vars_copy = self.work / f"{self.name}.OVMF_VARS.fd"
            vars_copy.write_bytes(Path("/usr/share/OVMF/OVMF_VARS_4M.fd").read_bytes())
            argv += ["-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                     "-drive", f"if=pflash,format=raw,file={vars_copy}"]
        return argv

    def start(self) -> VM:
        argv = self.argv()
        self.started_at = time.monotonic()
        log = open(self.work / f"{self.name}.qemu.log", "wb")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        return self

    def console_text(self) -> str:
        return self.console.read_text(errors="replace") if self.console.exists() else ""

    def wait_console(self, text: str, timeout: float, fail_on: str = "vanban-firstboot: LỖI") -> float:
        """Seconds from power-on until `text` appears on the serial console (error when `fail_on` does)."""
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            console = self.console_text()
            if text in console:
                return time.monotonic() - self.started_at
            if fail_on and fail_on in console:
                raise RuntimeError(f"{self.name}: first boot failed: {console[console.index(fail_on):][:600]}")
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: qemu exited ({self.proc.returncode}): {self.console_text()[-3000:]}")
            time.sleep(1)
        raise TimeoutError(f"{self.name}: '{text}' not on the console after {timeout:.0f} s:\n"
                           f"{self.console_text()[-4000:]}")

    def ssh(self, user: str, key: Path, command: str, timeout: float = 120,
            check: bool = True) -> subprocess.CompletedProcess:
        argv = ["ssh", "-p", str(self.ssh_port), "-i", str(key), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "ConnectTimeout=20", f"{user}@127.0.0.1", command]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"{self.name}: ssh `{command}` failed ({result.returncode}): {result.stderr[-1500:]}")
        return result

    def host_key(self) -> str:
        out = subprocess.run(["ssh-keyscan", "-p", str(self.ssh_port), "-t", "ed25519", "127.0.0.1"],
                             capture_output=True, text=True, timeout=60).stdout
        return " ".join(out.split()[1:3])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
