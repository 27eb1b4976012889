"""Stage 1: the bare Debian 12 root of the image (mmdebstrap), bootable but with nothing of vanban yet.

The root has what a real machine needs and a container does not (kernel, initramfs, udev, fstab,
GRUB's configuration); the app and its services come later from the roles (converge stage).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

SUITE = "bookworm"
# Everything a booted server needs before Ansible can reach it; the roles add the rest.
PACKAGES = (
    "linux-image-amd64", "initramfs-tools", "systemd-sysv", "udev", "dbus", "kmod",
    "openssh-server", "python3", "iproute2", "netbase", "ca-certificates", "procps",
    "systemd-resolved", "e2fsprogs", "dosfstools", "whiptail", "less", "nano",
)

# Kernel command line: the serial console is where test logs come from, tty0 (last) stays the main
# console for an admin in front of the server. net.ifnames=0: the seed and the console dialog
# speak of eth0, not of a name that depends on the motherboard's PCI layout.
CMDLINE = "ro console=ttyS0,115200n8 console=tty0 net.ifnames=0 quiet"


def grub_cfg(root_uuid: str) -> str:
    # /vmlinuz and /initrd.img are the symlinks Debian's kernel package keeps on the newest kernel,
    # so a kernel upgrade needs no GRUB run (the image carries no grub package: the host builds it).
    return (
        "set timeout=3\n"
        "serial --unit=0 --speed=115200\n"
        "terminal_input console serial\nterminal_output console serial\n"
        "menuentry 'vanban (Debian 12)' {\n"
        f"  search --no-floppy --fs-uuid --set=root {root_uuid}\n"
        f"  linux /vmlinuz root=UUID={root_uuid} {CMDLINE}\n"
        "  initrd /initrd.img\n"
        "}\n"
        "menuentry 'vanban (Debian 12, previous kernel)' {\n"
        f"  search --no-floppy --fs-uuid --set=root {root_uuid}\n"
        f"  linux /vmlinuz.old root=UUID={root_uuid} {CMDLINE}\n"
        "  initrd /initrd.img.old\n"
        "}\n"
    )


def customize_hooks(root_uuid: str) -> list[str]:
    fstab = f"UUID={root_uuid} / ext4 errors=remount-ro 0 1"
    dhcp = "[Match]\\nName=eth* en*\\n\\n[Network]\\nDHCP=yes\\nIPv6AcceptRA=no\\n"
    return [
        f"echo '{fstab}' > \"$1/etc/fstab\"",
        "mkdir -p \"$1/boot/grub\"",
        "printf 'vanban\\n' > \"$1/etc/hostname\"",
        "printf '127.0.0.1 localhost\\n127.0.1.1 vanban\\n::1 localhost ip6-localhost ip6-loopback\\n' > \"$1/etc/hosts\"",
        # Until first boot writes the seed's network, any wired interface asks DHCP (console access
        # does not need it, but an admin fixing a bad seed over SSH does).
        f"printf '{dhcp}' > \"$1/etc/systemd/network/90-vanban-default.network\"",
        "chroot \"$1\" systemctl enable systemd-networkd systemd-resolved",
        "rm -f \"$1\"/etc/ssh/ssh_host_* \"$1/etc/apt/apt.conf.d/99mmdebstrap\"",
        ": > \"$1/etc/machine-id\"",
    ]


def build(root: Path, *, mirrors: list[str], proxy: str | None, root_uuid: str, log: Path) -> float:
    """Run mmdebstrap into `root` (must not exist); returns seconds taken."""
    cmd = ["mmdebstrap", "--variant=apt", "--include=" + ",".join(PACKAGES),
           "--aptopt=Acquire::Retries \"3\""]
    if proxy:
        cmd.append(f'--aptopt=Acquire::http::Proxy "{proxy}"')
    cmd += [f"--customize-hook={hook}" for hook in customize_hooks(root_uuid)]
    cmd += [SUITE, str(root), *mirrors]
    started = time.monotonic()
    with open(log, "wb") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise RuntimeError(f"mmdebstrap failed ({result.returncode}); see {log}")
    (root / "boot/grub/grub.cfg").write_text(grub_cfg(root_uuid))
    return time.monotonic() - started
