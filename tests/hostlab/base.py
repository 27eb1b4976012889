"""The shared Debian root every lab host boots from, built once with mmdebstrap and cached.

The cache key is a hash of the whole recipe (suite, packages, mirrors, hook text), so a change
to any of them builds a new root next to the old one instead of reusing a stale one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

from .errors import LabError

CACHE_ROOT = Path("/var/cache/vanban-lab")
SUITE = "bookworm"
PACKAGES = (
    "systemd-sysv", "dbus", "openssh-server", "python3", "iproute2", "netbase", "ca-certificates", "procps",
)
# Debian suites we take from the controller's own apt sources; third-party repos (cloud SDKs,
# nodesource) are not Debian and must not leak into the test hosts.
_DEBIAN_SUITES = {SUITE, f"{SUITE}-updates", f"{SUITE}-security", f"{SUITE}-backports"}

# Runs inside mmdebstrap after packages are installed. Host keys and machine id are removed
# so that every host generates its own (sharing them would hide identity bugs in tests).
_CUSTOMIZE = (
    'chroot "$1" systemctl enable systemd-networkd',
    'rm -f "$1"/etc/ssh/ssh_host_* "$1"/etc/apt/apt.conf.d/99mmdebstrap',
    ': > "$1"/etc/machine-id',
    # A test host has no console login; the getty would only spin against the read-only console.
    'chroot "$1" systemctl mask console-getty.service getty@tty1.service',
)


def debian_mirrors(sources_dir: Path = Path("/etc/apt")) -> list[str]:
    """One-line `deb URI SUITE COMPONENTS` entries for the Debian suites the controller uses."""
    entries: list[str] = []
    files = [sources_dir / "sources.list", *sorted((sources_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            entries += _deb822_entries(text)
        elif path.suffix == ".list" or path.name == "sources.list":
            entries += _oneline_entries(text)
    seen: list[str] = []
    for entry in entries:
        if entry not in seen:
            seen.append(entry)
    if not seen:
        raise LabError(f"no Debian {SUITE} source found in {sources_dir}/sources.list(.d)")
    return seen


def _keep(uri: str, suite: str) -> bool:
    return suite in _DEBIAN_SUITES and uri.startswith("http://")


def _oneline_entries(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) < 4 or parts[0] != "deb":
            continue
        if parts[1].startswith("["):  # options like [signed-by=...]
            while parts and not parts[1].endswith("]"):
                parts.pop(1)
            parts.pop(1)
        if _keep(parts[1], parts[2]):
            out.append(" ".join(["deb", *parts[1:]]))
    return out


def _deb822_entries(text: str) -> list[str]:
    out = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                if _keep(uri, suite):
                    out.append(f"deb {uri} {suite} {fields.get('components', 'main')}")
    return out


def recipe(mirrors: list[str]) -> dict:
    return {"suite": SUITE, "variant": "apt", "packages": list(PACKAGES), "mirrors": mirrors,
            "customize": list(_CUSTOMIZE), "format": 1}


def recipe_key(rec: dict) -> str:
    return hashlib.sha256(json.dumps(rec, sort_keys=True).encode()).hexdigest()[:16]


def ensure_base(proxy: str | None = None, cache_root: Path = CACHE_ROOT) -> Path:
    """Return the cached base root for the current recipe, building it (under a lock) if missing."""
    rec = recipe(debian_mirrors())
    target = cache_root / f"base-{recipe_key(rec)}"
    root = target / "root"
    if (target / "done").exists():
        return root
    cache_root.mkdir(parents=True, exist_ok=True)
    with open(cache_root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two labs starting together build once
        if (target / "done").exists():
            return root
        _build(rec, target, proxy)
    return root


def _build(rec: dict, target: Path, proxy: str | None) -> None:
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cmd = ["mmdebstrap", "--quiet", "--variant=apt", "--include=" + ",".join(rec["packages"])]
    if proxy:
        cmd.append(f'--aptopt=Acquire::http::Proxy "{proxy}"')
    cmd += [f"--customize-hook={hook}" for hook in rec["customize"]]
    cmd += [rec["suite"], str(tmp / "root"), *rec["mirrors"]]
    started = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise LabError(f"mmdebstrap failed ({result.returncode}): {result.stderr[-2000:]}")
    (tmp / "recipe.json").write_text(json.dumps(rec, indent=1))
    (tmp / "done").write_text(f"{time.monotonic() - started:.1f}s\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
