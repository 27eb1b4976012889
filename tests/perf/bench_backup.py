"""Benchmark: backup and restore of a big node (1,000,000 documents, 20 GB of attachments by default).

    .venv/bin/python tests/perf/bench_backup.py [--documents 1000000] [--blob-gb 2] [--target-gb 20]
                                                [--day-documents 1000] [--link-mbit 100] [--workdir DIR]

The database is generated at full size (documents, attachments, blobs rows, full-text rows, audit entries) by
bulk SQL into a schema made by the real migrations. The blob store is generated at --blob-gb (random-bodied,
valid PDFs: scanned documents do not compress), with each blob shared by documents so every attachment row
names a real file; time and size of the phases that read blobs are then scaled linearly by bytes to
--target-gb (files scale with bytes at the same average size). The output says which figures are measured
and which are extrapolated. tests/perf/gen_corpus.py is used for the documents when it exists.

Measured: first backup, incremental backup after a day's work (--day-documents registrations with files),
full restore (extract + every check + every blob hashed). Derived: RPO and RTO for the default schedule
(hourly backups, weekly drill) and an off-site RTO at --link-mbit. Prints a Markdown block for the README.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import conftest  # noqa: E402
from test_backup import pdf_bytes  # noqa: E402
from vanban import backup, corpus  # noqa: E402
from vanban.text import fold  # noqa: E402

GB = 1024 ** 3
BACKUP_INTERVAL_H = 1  # the vanban-backup.timer default (hourly)


def fill_documents(db: Path, world, count: int, blob_shas: list[tuple[str, int]], start_id: int, rng) -> None:
    """Bulk rows shaped like real registrations: document + attachment + FTS row + audit entry each."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA journal_mode=WAL")
    clerk = world.users["clerk"]
    step = 20_000
    for base in range(start_id, start_id + count, step):
        docs, atts, fts, audit = [], [], [], []
        for i in range(base, min(base + step, start_id + count)):
            d = corpus.document(rng, {})
            sha, size = blob_shas[i % len(blob_shas)]
            when = f"2025-{1 + i % 12:02d}-{1 + i % 28:02d} 09:{i % 60:02d}:00"
            docs.append((i, world.agency_id, "in", world.register_id, 2025, i, when, d["issuer_name"], d["issuer_code"],
                         d["number"], d["notation"], when[:10], d["doc_type"], d["subject"], d["urgency"], 0, None,
                         "electronic", "done", clerk, when, None, ""))
            atts.append((i, i, sha, f"vb-{i}.pdf", "application/pdf", size, clerk, when, "done"))
            fts.append((i, fold(d["subject"]), fold(f"{d['number']}/{d['notation']}"), fold(d["issuer_name"]),
                        fold(d["subject"]) + " theo dung quy dinh.", "ag1 tycv rg1 cf0 drin"))
            audit.append((when, "H19.42", "clerk", "incoming.register", "document", str(i), "{}", "0" * 64, "0" * 64))
        con.executemany("INSERT INTO document VALUES (" + ",".join("?" * 23) + ")", docs)
        con.executemany("INSERT INTO attachment VALUES (?,?,?,?,?,?,?,?,?)", atts)
        con.executemany("INSERT INTO document_fts(rowid, subject, notation, issuer, body, scope) VALUES (?,?,?,?,?,?)",
                        fts)
        con.executemany("INSERT INTO audit_entry(at, agency_code, username, action, object_type, object_id, detail, "
                        "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)", audit)
        con.commit()
        print(f"\r  documents: {min(base + step, start_id + count) - start_id:,}/{count:,}", end="", flush=True)
    print()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def fill_blobs(data: Path, db: Path, total_bytes: int, avg: int, rng, tag: str) -> list[tuple[str, int]]:
    """Random-bodied PDFs with a long-tailed size distribution (most small scans, a few big ones)."""
    import hashlib

    blobs, written = [], 0
    while written < total_bytes:
        size = max(2_000, min(int(rng.lognormvariate(0, 1.0) * avg * 0.6), 40 * 1024 * 1024))
        body = pdf_bytes(len(blobs), size)
        sha = hashlib.sha256(body + tag.encode()).hexdigest()  # unique per run even for equal bodies
        body += tag.encode()
        path = data / "blobs" / sha[:2] / sha[2:4] / sha
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        blobs.append((sha, len(body)))
        written += len(body)
        if len(blobs) % 5000 == 0:
            print(f"\r  blobs: {written / GB:.2f} GB, {len(blobs):,} files", end="", flush=True)
    print(f"\r  blobs: {written / GB:.2f} GB, {len(blobs):,} files")
    con = sqlite3.connect(db)
    con.executemany("INSERT OR IGNORE INTO blob VALUES (?, ?, '2025-06-01 09:00:00')", blobs)
    con.commit()
    con.close()
    return blobs


class Phases:
    """Progress callback that records how long each phase of a backup or restore took."""

    def __init__(self):
        self.marks, self.current, self.t = {}, None, time.monotonic()

    def __call__(self, event):
        if event.get("type") == "phase":
            self._close()
            self.current = event["message"].split(" (")[0]

    def _close(self):
        now = time.monotonic()
        if self.current:
            self.marks[self.current] = self.marks.get(self.current, 0) + now - self.t
        self.t = now

    def done(self) -> dict:
        self._close()
        return self.marks


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()[0])


def timed(fn):
    t = time.monotonic()
    phases = Phases()
    result = fn(phases)
    return result, time.monotonic() - t, phases.done()


def fmt_t(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--documents", type=int, default=1_000_000)
    ap.add_argument("--blob-gb", type=float, default=2.0, help="attachments actually generated")
    ap.add_argument("--target-gb", type=float, default=20.0, help="attachments of the node being modelled")
    ap.add_argument("--day-documents", type=int, default=1000)
    ap.add_argument("--link-mbit", type=float, default=100.0, help="node-to-hub bandwidth for the off-site RTO")
    ap.add_argument("--workdir", default="/var/tmp/vanban-bench-backup")
    args = ap.parse_args()
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = work / "data"
    rng = random.Random(7)
    avg = int(args.target_gb * GB / args.documents)
    t0 = time.monotonic()
    load_start = os.getloadavg()[0]
    print(f"generating {args.documents:,} documents, {args.blob_gb} GB of attachments (avg {avg // 1024} KB) ...")
    world = conftest._seed(conftest.make_settings(data))
    db = data / "vanban.db"
    blobs = fill_blobs(data, db, int(args.blob_gb * GB), avg, rng, "base")
    fill_documents(db, world, args.documents, blobs, 1_000, rng)
    db_size = db.stat().st_size
    blob_bytes = sum(s for _, s in blobs)
    print(f"generated in {time.monotonic() - t0:.0f} s: database {db_size / GB:.2f} GB, blobs {blob_bytes / GB:.2f} GB")

    passfile = work / "passphrase"
    passfile.write_text("bench passphrase\n")
    passfile.chmod(0o600)
    config = backup.load_backup_config(environ={}, local_repo=str(work / "repo"), passphrase_file=str(passfile),
                                       borg_base_dir=str(work / "borg"), textfile_dir=str(work / "textfile"))
    settings = conftest.make_settings(data)
    backup.init_repo(config, "local")

    first, t_first, ph_first = timed(lambda p: backup.run_backup(settings, config, progress=p))
    assert first["failed"] == [], first
    repo_first = du(work / "repo")
    print(f"first backup: {t_first:.1f} s, repository {repo_first / GB:.2f} GB; phases {ph_first}")

    day_blobs = fill_blobs(data, db, args.day_documents * avg, avg, rng, "day")
    fill_documents(db, world, args.day_documents, day_blobs, 1_000 + args.documents, rng)
    incr, t_incr, ph_incr = timed(lambda p: backup.run_backup(settings, config, progress=p))
    assert incr["failed"] == [], incr
    added = incr["repos"]["local"]["added_size"]
    print(f"incremental: {t_incr:.1f} s, {added / 1024 ** 2:.1f} MB added; phases {ph_incr}")

    rest, t_rest, ph_rest = timed(lambda p: backup.restore(settings, config, "latest", target=work / "restored",
                                                           progress=p))
    assert not rest["problems"], rest["problems"]
    print(f"full restore: {t_rest:.1f} s ({rest['blobs_checked']:,} blobs hashed); phases {ph_rest}")

    # Extrapolation: phases that read blobs scale with bytes; database phases are measured at full size.
    factor = (db_size + args.target_gb * GB) / (db_size + blob_bytes)
    blob_phase = [k for k in ph_first if k.startswith("ghi vào kho")]
    t_first_x = t_first + sum(ph_first[k] for k in blob_phase) * (factor - 1)
    ext = [k for k in ph_rest if k.startswith("giải nén") or k.startswith("kiểm tra bản")]
    t_rest_x = t_rest + sum(ph_rest[k] for k in ext) * (factor - 1)
    # The incremental reads only the new blobs and the database, but looks up every file in borg's files
    # cache: scaling its whole borg phase by the file count is an upper bound (the database part does not grow).
    incr_phase = sum(ph_incr[k] for k in ph_incr if k.startswith("ghi vào kho"))
    t_incr_x = t_incr + incr_phase * (factor - 1)
    repo_x = repo_first + (args.target_gb * GB - blob_bytes)  # attachments do not compress; the database is as is
    offsite_copy_s = repo_x * 8 / (args.link_mbit * 1e6)
    rpo = BACKUP_INTERVAL_H * 3600 + t_incr_x
    print(f"""
### Backup and restore figures (tests/perf/bench_backup.py)

Node modelled: {args.documents:,} documents, {args.target_gb:g} GB of attachments; database
{db_size / GB:.2f} GB (generated at full size). Attachments generated: {blob_bytes / GB:.2f} GB
({len(blobs):,} random-bodied PDFs, average {avg // 1024} KB); blob-bound phases scaled ×{factor:.1f} by bytes.
Machine: {os.cpu_count()} CPUs, load average {load_start:.1f} at start and {os.getloadavg()[0]:.1f} at the end
(other jobs shared it); borg {subprocess.run(['borg', '--version'], capture_output=True, text=True).stdout.split()[-1]},
compression `{config.compression}`, chunker `{config.chunker_params}`, repokey-blake2.

| operation | measured ({blob_bytes / GB:.1f} GB of files) | {args.target_gb:g} GB node (extrapolated) |
|---|---|---|
| first backup (snapshot, integrity check, borg create) | {fmt_t(t_first)}, repository {repo_first / GB:.2f} GB | {fmt_t(t_first_x)}, repository {repo_x / GB:.1f} GB |
| incremental after a day's work ({args.day_documents:,} documents + files) | {fmt_t(t_incr)}, {added / 1024 ** 2:.0f} MB added | ≤ {fmt_t(t_incr_x)}, {added / 1024 ** 2:.0f} MB added |
| full restore (extract, integrity check, every blob's SHA-256) | {fmt_t(t_rest)} | {fmt_t(t_rest_x)} |

With the defaults (backup every {BACKUP_INTERVAL_H} h to the local repository and the hub, weekly drill):
- **RPO** ≈ {fmt_t(rpo)}: at most one interval plus one incremental run of acknowledged work is lost when the
  disk dies; the hub copy has the same RPO while the link is up. Each run re-stores the database chunks that
  changed since the last one (chunker `{config.chunker_params}`), so hourly uploads to the hub are of the order of
  the daily figure above divided by the hours of work, plus the day's new files.
- **RTO from the local repository** ≈ {fmt_t(t_rest_x)} restore + swap and service restart (seconds).
- **RTO from the hub** (disk died, host rebuilt) ≈ {fmt_t(offsite_copy_s)} to move {repo_x / GB:.0f} GB at
  {args.link_mbit:.0f} Mbit/s + {fmt_t(t_rest_x)} restore, plus provisioning the fresh host.
""")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
