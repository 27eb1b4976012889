"""node exporter's textfile collector: the one writer of every `.prom` file the appliance produces (backups,
restore drills, certificate expiry, antivirus signatures; monitoring/README.md "Textfile collector metrics").

The collector reads `*.prom` in its directory at every scrape. A file is replaced atomically: written under a
hidden temporary name in the same directory (never `*.prom`, so it is never read half-written), fsynced, then
renamed over the old one."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


def read_samples(path: Path) -> dict[str, str]:
    """Samples of a .prom file we wrote ({'name{labels}': 'value'}); comments and other lines skipped."""
    samples = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        m = _LINE.match(line)
        if m:
            samples[m.group(1)] = m.group(2)
    return samples


def render(samples: dict, help_texts: dict) -> str:
    """Text exposition format, every metric a gauge, grouped by name with its HELP and TYPE lines."""
    values = {k: v if isinstance(v, str) else repr(float(v)) for k, v in samples.items()}
    lines = []
    for name in sorted({k.split("{")[0] for k in values}):
        lines += [f"# HELP {name} {help_texts.get(name, name)}", f"# TYPE {name} gauge"]
        lines += [f"{k} {v}" for k, v in sorted(values.items()) if k.split("{")[0] == name]
    return "\n".join(lines) + "\n" if lines else ""


def write_textfile(directory, filename: str, samples: dict, help_texts: dict, *, merge: bool = False,
                   create_dir: bool = True) -> Path:
    """Write `samples` ({'name{labels}': number}) to directory/filename and replace it atomically (write, fsync,
    rename), so node exporter never reads half a file. merge=True keeps earlier samples that `samples` does not
    name (the hub's last backup success while only the local repository succeeded this time); otherwise the
    file holds exactly `samples` (a certificate that is gone is no longer reported)."""
    directory = Path(directory)
    if create_dir:
        directory.mkdir(parents=True, exist_ok=True)
    target = directory / filename
    merged = {}
    if merge and target.exists():
        merged = read_samples(target)
    merged.update(samples)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{filename}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(render(merged, help_texts))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # node exporter runs as prometheus
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target
