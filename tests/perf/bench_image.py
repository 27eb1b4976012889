"""Benchmark of the appliance image: build time, image size, power-on to healthy on first boot.

    sudo .venv/bin/python tests/perf/bench_image.py [--build] [--image dist/image/vanban-appliance.qcow2]
                                                    [--memory 2048] [--uefi]

--build runs appliance/build first (timed; stage times from the build's own record). The boot is one VM
under TCG (no KVM on this machine: ../shared/TESTHOSTS.md), 1 vCPU, qemu64 CPU, with a seed disk;
"healthy" is first boot's `HEALTHY` line on the serial console (after /healthz answered ok through nginx).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "appliance/image"))
sys.path.insert(0, str(REPO / "tests"))

import qemu  # noqa: E402

from test_image import SEED  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", action="store_true")
    parser.add_argument("--image", type=Path, default=REPO / "dist/image/vanban-appliance.qcow2")
    parser.add_argument("--memory", type=int, default=2048)
    parser.add_argument("--uefi", action="store_true")
    args = parser.parse_args()
    figures: dict = {}
    if args.build:
        started = time.monotonic()
        subprocess.run([str(REPO / "appliance/build")], check=True)
        figures["build_s"] = round(time.monotonic() - started)
    record = args.image.with_name(args.image.name.replace(".qcow2", ".build.json"))
    if record.exists():
        built = json.loads(record.read_text())
        figures.update({"stage_s": built["timings_s"], "root_used_mib": built["root_used_mib"],
                        "raw_mib": built["raw_mib"], "raw_allocated_mib": built["raw_allocated_mib"],
                        "qcow2_mib": built["qcow2_mib"]})
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        key = work / "admin"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        seed = SEED.replace(SEED.split('ssh_keys = ["')[1].split('"]')[0], (work / "admin.pub").read_text().strip())
        vm = qemu.VM(args.image, work, "bench", seed=qemu.seed_disk(seed, work / "seed.img"),
                     memory_mb=args.memory, uefi=args.uefi)
        try:
            vm.start()
            figures["power_on_to_configured_s"] = round(vm.wait_console("vanban-firstboot: configured", timeout=1500))
            figures["power_on_to_healthy_s"] = round(vm.wait_console(qemu.HEALTHY_MARK, timeout=1500))
            line = next(ln for ln in vm.console_text().splitlines() if qemu.HEALTHY_MARK in ln)
            figures["guest_uptime_at_healthy_s"] = json.loads(line.split("HEALTHY ", 1)[1])["healthy_after_boot_s"]
            used = vm.ssh("vanbanadmin", key, "free -m | awk '/Mem:/ {print $3}'").stdout.strip()
            figures["guest_memory_used_mib"] = int(used)
        finally:
            vm.stop()
    figures["boot"] = f"{'UEFI (OVMF)' if args.uefi else 'BIOS (SeaBIOS)'}, TCG, 1 vCPU, {args.memory} MiB, -cpu qemu64"
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
