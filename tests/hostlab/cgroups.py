"""Per-container cgroups (TESTHOSTS.md fix 3).

This machine has no systemd on the outside, so nspawn would leave every container in the
launcher's cgroup and systemd units inside fail at random with status=219/CGROUP. Each container
therefore starts from its own directory in the named `systemd` hierarchy and in cgroup2.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

HIERARCHIES = (Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified"))


def _lab_dir(hierarchy: Path, lab_id: str) -> Path:
    return hierarchy / f"vanban-lab-{lab_id}"


def create(lab_id: str, host: str) -> list[Path]:
    dirs = []
    for hierarchy in HIERARCHIES:
        if hierarchy.is_dir():
            path = _lab_dir(hierarchy, lab_id) / host
            path.mkdir(parents=True, exist_ok=True)
            dirs.append(path)
    return dirs


def enter(dirs: list[Path]) -> None:
    """Move the calling process into the given cgroups (runs in the child before exec)."""
    for path in dirs:
        with open(path / "cgroup.procs", "w") as procs:
            procs.write("0")


def _pids(tree: Path) -> list[int]:
    pids = []
    for procs in tree.rglob("cgroup.procs"):
        try:
            pids += [int(p) for p in procs.read_text().split()]
        except OSError:
            pass
    return pids


def _kill_tree(tree: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (pids := _pids(tree)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def kill(lab_id: str, host: str, timeout: float = 5.0) -> None:
    """Kill whatever outlived a host's container in its cgroups (the directories stay for the next boot)."""
    for hierarchy in HIERARCHIES:
        tree = _lab_dir(hierarchy, lab_id) / host
        if tree.is_dir():
            _kill_tree(tree, timeout)


def remove(lab_id: str, timeout: float = 5.0) -> None:
    """Kill anything still inside the lab's cgroups, then remove the directories bottom-up."""
    for hierarchy in HIERARCHIES:
        tree = _lab_dir(hierarchy, lab_id)
        if not tree.is_dir():
            continue
        _kill_tree(tree, timeout)
        for path in sorted((p for p in tree.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                           reverse=True):
            try:
                path.rmdir()
            except OSError:
                pass
        try:
            tree.rmdir()
        except OSError:
            pass


def exists(lab_id: str) -> bool:
    return any(_lab_dir(h, lab_id).exists() for h in HIERARCHIES)
