#!/usr/bin/env python3
"""Build the vanban release on the controller: the app wheel and a wheelhouse of its dependencies.

Servers in a provincial network have no PyPI access, so everything they install is built here and
copied. Output is reproducible (fixed SOURCE_DATE_EPOCH, sorted tar), so rebuilding unchanged
sources reports no change and the servers see identical files. Prints one JSON object:
{"changed", "version", "wheel", "wheel_sha256", "wheelhouse", "wheelhouse_key"}.

    build_release.py --source /work/main --out ~/.cache/vanban-build [--wheel existing.whl]
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

EPOCH = "315532800"  # 1980-01-01, the earliest time a zip entry can carry


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_wheel(source: Path, dist: Path) -> tuple[Path, bool]:
    """pip wheel --no-deps of a clean copy of the source (the tree itself stays untouched)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "src"
        ignore = shutil.ignore_patterns("*.egg-info", "__pycache__", "*.pyc", "build", "dist")
        copy.mkdir()
        shutil.copy2(source / "pyproject.toml", copy / "pyproject.toml")
        for extra in ("README.md", "LICENSE", "MANIFEST.in", "setup.cfg"):
            if (source / extra).exists():
                shutil.copy2(source / extra, copy / extra)
        shutil.copytree(source / "app", copy / "app", ignore=ignore)
        out = Path(tmp) / "out"
        env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(copy)],
                       check=True, env=env, stdout=sys.stderr)
        (built,) = out.glob("vanban-*.whl")
        target = dist / built.name
        if target.exists() and sha256(target) == sha256(built):
            return target, False
        dist.mkdir(parents=True, exist_ok=True)
        shutil.move(built, target)
        return target, True


def requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    # Only unconditional requirements: extras (test, ops) never go to a server.
    return sorted(line.split(":", 1)[1].strip() for line in lines
                  if line.startswith("Requires-Dist:") and "extra ==" not in line)


def build_wheelhouse(wheel: Path, out: Path, extra: list[str], constraints: Path | None) -> tuple[Path, str, bool]:
    """The wheels of the app's requirements, at the versions of `constraints` (those the tests passed with)."""
    reqs = sorted(set(requirements(wheel)) | set(extra))
    pins = constraints.read_text() if constraints else ""
    key = hashlib.sha256(json.dumps([reqs, pins, sys.version_info[:2]]).encode()).hexdigest()[:12]
    tar_path = out / f"wheelhouse-{key}.tar"
    if tar_path.exists():
        return tar_path, key, False
    with tempfile.TemporaryDirectory() as tmp:
        house = Path(tmp) / "wheelhouse"
        pinned = ["-c", str(constraints)] if constraints else []
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(house), *pinned, *reqs],
                       check=True, stdout=sys.stderr)
        partial = tar_path.with_suffix(".tmp")
        with tarfile.open(partial, "w") as tar:
            for path in sorted(house.iterdir()):
                info = tar.gettarinfo(str(path), arcname=path.name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = int(EPOCH), 0, 0, "root", "root"
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
        partial.rename(tar_path)
    return tar_path, key, True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--wheel", type=Path, help="use this wheel instead of building one")
    parser.add_argument("--extra", action="append", default=[],
                        help="extra requirement installed next to the app (a stop-gap for one missing "
                             "from the wheel's metadata)")
    parser.add_argument("--constraints", type=Path,
                        help="pip constraints for the wheelhouse (default: constraints.txt of the source)")
    args = parser.parse_args()
    constraints = args.constraints or args.source / "constraints.txt"
    constraints = constraints.resolve() if constraints.exists() else None
    args.out.mkdir(parents=True, exist_ok=True)
    if args.wheel:
        wheel, wheel_changed = args.wheel.resolve(), False
    else:
        wheel, wheel_changed = build_wheel(args.source.resolve(), args.out / "dist")
    house, key, house_changed = build_wheelhouse(wheel, args.out, args.extra, constraints)
    print(json.dumps({"changed": wheel_changed or house_changed, "version": wheel.name.split("-")[1],
                      "wheel": str(wheel), "wheel_sha256": sha256(wheel), "wheelhouse": str(house),
                      "wheelhouse_key": key, "extra": sorted(args.extra)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
