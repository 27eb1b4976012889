"""appliance/build: the bootable Debian 12 appliance image, made with the same roles as the playbooks.

Stages (each records its time; --from-stage skips earlier ones whose output is kept in --work):
  rootfs    mmdebstrap: Debian with kernel, udev, sshd (rootfs.py)
  converge  boot it as a container (tests/hostlab), ansible-playbook playbooks/image.yml (imagelab.py)
  seal      remove host keys, machine id, secrets, logs, history (seal.sh)
  disk      MBR disk: ESP (UEFI GRUB) + ext4 root (BIOS GRUB in the MBR gap); qcow2; SHA-256 manifest
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import disk  # noqa: E402
import imagelab  # noqa: E402
import rootfs  # noqa: E402

from hostlab import base as hostbase  # noqa: E402  (imagelab put tests/ on sys.path)

STAGES = ("rootfs", "converge", "seal", "disk")
DEFAULT_WORK = Path("/var/tmp/vanban-image")
DEFAULT_OUT = imagelab.REPO / "dist/image"


def log(msg: str) -> None:
    print(f"[build {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Build:
    def __init__(self, work: Path, out: Path, name: str):
        self.work, self.out, self.name = work, out, name
        self.rootfs_built = False
        self.work.mkdir(parents=True, exist_ok=True)
        self.state_file = work / "state.json"
        self.state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.state.setdefault("root_uuid", str(uuid.uuid4()))
        self.state.setdefault("timings", {})
        self.save()

    def save(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=1))

    def timed(self, stage: str, seconds: float) -> None:
        self.state["timings"][stage] = round(seconds, 1)
        self.save()
        log(f"{stage}: {seconds:.1f} s")

    # -- stages -----------------------------------------------------------------------------------
    def make_rootfs(self, proxy: str) -> Path:
        root = self.work / "rootfs"
        if (self.work / "rootfs.done").exists():
            return root
        shutil.rmtree(root, ignore_errors=True)
        log("rootfs: mmdebstrap (Debian 12, kernel, sshd)")
        seconds = rootfs.build(root, mirrors=hostbase.debian_mirrors(), proxy=proxy,
                               root_uuid=self.state["root_uuid"], log=self.work / "rootfs.log")
        (self.work / "rootfs.done").write_text("ok\n")
        self.rootfs_built = True
        self.timed("rootfs", seconds)
        return root

    def converge(self, ansible_args: list[str]) -> None:
        started = time.monotonic()
        with imagelab.ImageLab(self.make_rootfs) as lab:
            log(f"converge: container up in {lab.timings['bring_up']:.1f} s, running playbooks/image.yml")
            self.timed("converge_playbook", imagelab.converge(lab, self.work, self.work / "converge.log",
                                                              ansible_args))
            lab.stop_host()
            self.timed("copy_out", imagelab.copy_out(lab, self.work / "converged"))
        # The lab builds the root inside its bring-up (through its apt cache); count that under rootfs.
        built_root = self.state["timings"]["rootfs"] if self.rootfs_built else 0.0
        self.timed("converge", time.monotonic() - started - built_root)

    def seal(self) -> None:
        started = time.monotonic()
        target = self.work / "sealed"
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(["cp", "-a", "--preserve=all", f"{self.work / 'converged'}/.", str(target)], check=True)
        # The seal renders the closed firewall with the first-boot program, which needs jinja2.
        subprocess.run([str(HERE / "seal.sh"), str(target)], check=True,
                       env={**os.environ, "PYTHON": sys.executable})
        self.timed("seal", time.monotonic() - started)

    def disk(self) -> dict:
        started = time.monotonic()
        self.out.mkdir(parents=True, exist_ok=True)
        result = disk.make_image(self.work / "sealed", self.out, self.name, root_uuid=self.state["root_uuid"],
                                 work=self.work)
        self.timed("disk", time.monotonic() - started)
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="appliance/build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="build directory (kept for reruns)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the images and manifest go")
    parser.add_argument("--name", default="vanban-appliance", help="image file name stem")
    parser.add_argument("--from-stage", choices=STAGES, default="rootfs",
                        help="reuse the kept outputs of the stages before this one")
    parser.add_argument("--clean", action="store_true", help="start from nothing (new root file system)")
    parser.add_argument("--ansible-arg", action="append", default=[], help="extra ansible-playbook argument")
    args = parser.parse_args(argv)

    args.work.mkdir(parents=True, exist_ok=True)
    lock = open(args.work.parent / f".{args.work.name}.lock", "w")
    # Two builds in one work directory would delete each other's root under a running container.
    fcntl.flock(lock, fcntl.LOCK_EX)
    if args.clean:
        shutil.rmtree(args.work, ignore_errors=True)
    build = Build(args.work, args.out, args.name)
    total = time.monotonic()
    first = STAGES.index(args.from_stage)
    if first <= STAGES.index("converge"):
        if first == 0:
            (args.work / "rootfs.done").unlink(missing_ok=True)
        build.converge(args.ansible_arg)
    if first <= STAGES.index("seal"):
        build.seal()
    result = build.disk()
    build.state["timings"]["total_this_run"] = round(time.monotonic() - total, 1)
    build.save()
    summary = {**result, "timings_s": build.state["timings"]}
    (args.out / f"{args.name}.build.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
