"""Stage 4: the disk image, built without loop devices or mounts (this kernel has neither for us).

Layout (MBR, so one disk boots both ways on old and new firmware):
  sectors 0..2047   MBR with GRUB's boot.img, then GRUB's BIOS core.img in the gap
  partition 1       EFI system partition (FAT, made in a file with mkfs.fat + mtools): EFI/BOOT/BOOTX64.EFI
  partition 2       ext4 root, made straight from the sealed directory (mkfs.ext4 -d, offset into the disk)
Both GRUB images carry their modules and a tiny config that finds the root by UUID and reads
/boot/grub/grub.cfg from it (written by the rootfs stage).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

SECTOR = 512
MIB = 1024 * 1024
ESP_START_MIB = 1
ESP_MIB = 64
ROOT_START_MIB = ESP_START_MIB + ESP_MIB
GRUB_LIB = Path("/usr/lib/grub")
# Modules baked into both GRUB images: enough to find the root, read grub.cfg and boot Linux
# without loading anything from disk.
GRUB_MODULES = ["part_msdos", "ext2", "search_fs_uuid", "search", "normal", "linux", "configfile",
                "echo", "test", "gzio", "serial", "terminal", "sleep"]
BIOS_MODULES = ["biosdisk", *GRUB_MODULES]
EFI_MODULES = [*GRUB_MODULES, "fat", "efi_gop", "efi_uga", "all_video"]
# GRUB 2.06 (Debian 12) refuses ext4 file systems with these newer mke2fs defaults.
EXT4_FEATURES = "^metadata_csum_seed,^orphan_file"


def run(*argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True, **kw)


def used_bytes(root: Path) -> int:
    out = run("du", "-sxb", root).stdout.split()[0]
    return int(out)


def root_size_mib(root: Path, free_mib: int) -> int:
    # ext4 metadata and reserved blocks take roughly a tenth; round to 256 MiB for tidy sizes.
    need = used_bytes(root) * 1.12 / MIB + free_mib
    return int((need + 255) // 256 * 256)


def early_config(root_uuid: str, path: Path) -> Path:
    path.write_text(f"search --no-floppy --fs-uuid --set=root {root_uuid}\nset prefix=($root)/boot/grub\n")
    return path


def grub_bios(work: Path, cfg: Path) -> tuple[Path, Path]:
    core = work / "core.img"
    run("grub-mkimage", "-O", "i386-pc", "-o", core, "-c", cfg, "-p", "/boot/grub", *BIOS_MODULES)
    if core.stat().st_size > (ESP_START_MIB * MIB - SECTOR):
        raise RuntimeError(f"GRUB core image too large for the MBR gap: {core.stat().st_size} bytes")
    return GRUB_LIB / "i386-pc/boot.img", core


def grub_efi(work: Path, cfg: Path) -> Path:
    efi = work / "BOOTX64.EFI"
    run("grub-mkimage", "-O", "x86_64-efi", "-o", efi, "-c", cfg, "-p", "/boot/grub", *EFI_MODULES)
    return efi


def esp_image(work: Path, efi: Path) -> Path:
    esp = work / "esp.img"
    esp.unlink(missing_ok=True)
    run("mkfs.fat", "-C", "-F", "16", "-n", "VANBAN-EFI", esp, ESP_MIB * 1024)
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    run("mmd", "-i", esp, "::/EFI", "::/EFI/BOOT", env=env)
    run("mcopy", "-i", esp, efi, "::/EFI/BOOT/BOOTX64.EFI", env=env)
    return esp


def partition(raw: Path, root_mib: int) -> None:
    table = (
        "label: dos\nunit: sectors\n\n"
        f"start={ESP_START_MIB * MIB // SECTOR}, size={ESP_MIB * MIB // SECTOR}, type=ef\n"
        f"start={ROOT_START_MIB * MIB // SECTOR}, size={root_mib * MIB // SECTOR}, type=83, bootable\n"
    )
    run("sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", raw, input=table)


def dd(src: Path, raw: Path, *, seek_bytes: int, count_bytes: int | None = None) -> None:
    argv = ["dd", f"if={src}", f"of={raw}", "bs=512", f"seek={seek_bytes // SECTOR}", "conv=notrunc,sparse",
            "status=none"]
    if count_bytes is not None:
        argv.append(f"count={count_bytes // SECTOR}")
    if count_bytes is not None and count_bytes % SECTOR:
        argv = ["dd", f"if={src}", f"of={raw}", "bs=1", f"count={count_bytes}", "conv=notrunc", "status=none"]
    run(*argv)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(4 * MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def install_grub_modules(root: Path) -> None:
    # Modules of the same GRUB build as the images, for anything an admin adds to grub.cfg later.
    for platform in ("i386-pc", "x86_64-efi"):
        dest = root / "boot/grub" / platform
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(GRUB_LIB / platform, dest)


def to_qcow2(raw: Path, qcow2: Path) -> None:
    qcow2.unlink(missing_ok=True)
    try:
        run("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", raw, qcow2)
    except subprocess.CalledProcessError:  # a qemu-img built without zstd
        run("qemu-img", "convert", "-c", "-O", "qcow2", raw, qcow2)


def make_image(root: Path, out: Path, name: str, *, root_uuid: str, work: Path, free_mib: int = 1536) -> dict:
    """Write <name>.raw, <name>.qcow2 and <name>.SHA256SUMS to `out`; return sizes and names."""
    install_grub_modules(root)
    cfg = early_config(root_uuid, work / "grub-early.cfg")
    boot_img, core = grub_bios(work, cfg)
    esp = esp_image(work, grub_efi(work, cfg))
    root_mib = root_size_mib(root, free_mib)
    raw = out / f"{name}.raw"
    raw.unlink(missing_ok=True)
    with open(raw, "wb") as f:
        f.truncate((ROOT_START_MIB + root_mib) * MIB)
    partition(raw, root_mib)
    # boot.img: only its first 440 bytes, so the partition table written by sfdisk stays.
    dd(boot_img, raw, seek_bytes=0, count_bytes=440)
    dd(core, raw, seek_bytes=SECTOR)
    dd(esp, raw, seek_bytes=ESP_START_MIB * MIB)
    run("mkfs.ext4", "-F", "-q", "-L", "vanban-root", "-U", root_uuid, "-O", EXT4_FEATURES,
        "-E", f"offset={ROOT_START_MIB * MIB}", "-d", root, raw, f"{root_mib}M")
    qcow2 = out / f"{name}.qcow2"
    to_qcow2(raw, qcow2)
    sums = {p.name: sha256(p) for p in (raw, qcow2)}
    (out / f"{name}.SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sums.items()))
    return {
        "raw": str(raw), "qcow2": str(qcow2), "manifest": str(out / f"{name}.SHA256SUMS"),
        "root_uuid": root_uuid, "root_used_mib": round(used_bytes(root) / MIB),
        "raw_mib": raw.stat().st_size // MIB, "raw_allocated_mib": raw.stat().st_blocks * 512 // MIB,
        "qcow2_mib": round(qcow2.stat().st_size / MIB), "sha256": sums,
    }


if __name__ == "__main__":  # manual use: python disk.py ROOT OUT NAME UUID
    import sys
    print(json.dumps(make_image(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], root_uuid=sys.argv[4],
                                work=Path(sys.argv[2])), indent=1))
