"""Hub side: the transactions log of a node's append-only repository and rolling it back."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .backups import _stamp
from .config import BackupError

# The hub keeps each node's repository under a key whose authorized_keys line is
#   command="borg serve --append-only --restrict-to-repository /srv/borg/<agency>",restrict ssh-ed25519 ...
# Pruning the hub copy is the IT centre's job, with its own non-append-only access and the escrowed
# passphrase: first compare the archive list with the previous one (a node that "deleted" archives shows up
# as a shorter list and extra transactions), roll back if needed, and only then prune and compact, because
# compaction makes every earlier delete permanent.

def transactions(repo_dir: str | Path) -> list[tuple[int, str]]:
    """The `transactions` log borg keeps in an append-only repository: (transaction id, UTC time). A
    transaction id is the number of the last segment file it wrote."""
    out = []
    for line in (Path(repo_dir) / "transactions").read_text().splitlines():
        m = re.match(r"transaction (\d+), UTC time (\S+)", line)
        if m:
            out.append((int(m.group(1)), m.group(2)))
    return out


def rollback_append_only(repo_dir: str | Path, to_transaction: int) -> list[Path]:
    """Hub admin: undo what a (compromised) node did after `to_transaction` — deletes and prunes sent in
    append-only mode only appended segments, so moving those segments aside and dropping the expendable index
    files brings back the earlier state (borg documents this procedure). Segments are moved to
    rolled-back-<time>/ rather than deleted, to keep evidence. Run with the node's access stopped; clients
    that saw the newer state need `borg delete --cache-only` (a fresh recovery host does not)."""
    repo_dir = Path(repo_dir)
    ids = [t for t, _ in transactions(repo_dir)]
    if to_transaction not in ids:
        raise BackupError(f"Không có giao dịch {to_transaction} trong {repo_dir}/transactions.",
                          code="rollback_unknown_transaction")
    aside = repo_dir / f"rolled-back-{_stamp()}"
    aside.mkdir()
    moved = []
    for pattern in ("index.*", "hints.*", "integrity.*"):
        for f in repo_dir.glob(pattern):
            f.unlink()
    for segment in (repo_dir / "data").glob("*/*"):
        if segment.name.isdigit() and int(segment.name) > to_transaction:
            os.replace(segment, aside / segment.name)
            moved.append(aside / segment.name)
    return moved
