"""Backups with the real borg on real files: round trip, append-only hub, corruption, bad input, heavy writes.

The hub is emulated on loopback without SSH: BORG_RSH points at a script that runs what the hub's
authorized_keys forced command runs (`borg serve --append-only --restrict-to-repository DIR`) and ignores the
command the client asked for, exactly as sshd does with a forced command. A real SSH run belongs to tests/hostlab.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import T0, incoming_fields, make_settings
from vanban import backup, cli
from vanban.backup import BackupError

PASSPHRASE = "thử-nghiệm sao lưu " + hashlib.sha256(os.urandom(8)).hexdigest()[:12]


def pdf_bytes(i: int, size: int = 20_000) -> bytes:
    """A small valid PDF (one page of text) carrying `size` random bytes in an unreferenced stream: it opens in
    any reader and, like a scanned document, does not compress."""
    text = f"BT /F1 12 Tf 72 720 Td (Van ban so {i}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
               b"<< /Length %d >>\nstream\n%s\nendstream" % (size, os.urandom(size))]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (n, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % off for off in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


@dataclass
class Node:
    root: Path
    settings: object
    config: backup.BackupConfig
    ctx: object
    clerk: object
    world: object

    def register(self, n: int, start: int, size: int = 20_000) -> list[int]:
        from vanban.core.incoming import accept_upload, register_incoming

        ids = []
        for i in range(start, start + n):
            data = incoming_fields(self.world, number_notation=f"{i}/UBND-VX")
            up = accept_upload(self.ctx, f"van-ban-{i}.pdf", io.BytesIO(pdf_bytes(i, size)), 50 * 1024 * 1024)
            ids.append(register_incoming(self.ctx, self.clerk, data, [up]).id)
        return ids

    def with_config(self, **changes) -> backup.BackupConfig:
        return backup.BackupConfig({**self.config.values, **changes})

    def metrics(self, name="vanban_backup.prom") -> str:
        path = Path(self.config.textfile_dir) / name
        return path.read_text() if path.exists() else ""


@pytest.fixture
def node(tmp_path, data_dir, world):
    from vanban.clock import FixedClock
    from vanban.models import database
    from vanban.models.schema import User
    from vanban.runtime import build_context

    settings = make_settings(data_dir, antivirus_required=False)
    ctx = build_context(settings, clock=FixedClock(T0))
    passfile = tmp_path / "backup.passphrase"
    passfile.write_text(PASSPHRASE + "\n")
    passfile.chmod(0o600)
    config = backup.load_backup_config(environ={}, local_repo=str(tmp_path / "repo"),
                                       passphrase_file=str(passfile), borg_base_dir=str(tmp_path / "borg"),
                                       textfile_dir=str(tmp_path / "textfile"), lock_wait=1, drill_sample_mb=1)
    backup.init_repo(config, "local")
    yield Node(tmp_path, settings, config, ctx, User.get_by_id(world.users["clerk"]), world)
    if not database.is_closed():
        database.close()


def tree_digest(root: Path) -> str:
    """What 'live data untouched' means: every file's name and bytes, except that a database counts by its
    logical content (a reader legitimately rewrites -shm read marks, and closing the last connection
    checkpoints the WAL into the main file), and tmp/ is scratch space (the backup's run lock lives there)."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name.endswith(("-wal", "-shm")) or p.relative_to(root).parts[0] == "tmp":
            continue
        h.update(str(p.relative_to(root)).encode())
        if p.suffix == ".db":
            con = sqlite3.connect(p)
            try:
                for line in con.iterdump():
                    h.update(line.encode())
            finally:
                con.close()
        else:
            h.update(p.read_bytes())
    return h.hexdigest()


def run_cli(node, *argv) -> int:
    from vanban.models import database

    database.close()  # the CLI opens its own; a swap refuses while a database handle is open elsewhere
    env = {"VANBAN_BACKUP_" + k.upper(): str(v) for k, v in node.config.values.items()}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return cli.main(["--data", str(node.settings.data_path), *argv])
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def doc_count(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT count(*) FROM document").fetchone()[0]
    finally:
        con.close()


# ---------------------------------------------------------------- round trip

def test_backup_list_restore_round_trip(node, capsys):
    node.register(3, start=1)
    assert run_cli(node, "backup", "now") == 0
    out = capsys.readouterr().out
    assert "3 văn bản" in out and "local: xong" in out
    archives = backup.list_archives(node.config, "local")
    assert len(archives) == 1
    node.register(1, start=10)  # written after the backup: must not appear in the restore

    target = node.root / "restored"
    assert run_cli(node, "restore", archives[0]["name"], "--to", str(target)) == 0
    assert doc_count(target / "vanban.db") == 3
    manifest = json.loads((target / "restored-from.json").read_text())
    from vanban import __version__
    from vanban.models.migrations import LATEST

    assert manifest["app_version"] == __version__ and manifest["schema_version"] == LATEST
    assert manifest["counts"]["document"] == 3
    for blob in (target / "blobs").rglob("*"):
        if blob.is_file():
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    assert not (node.settings.data_path / backup.SNAPSHOT_DIR).exists()  # staging cleaned up
    metrics = node.metrics()
    assert 'vanban_backup_last_success_timestamp_seconds{repo="local"}' in metrics
    assert "vanban_sqlite_integrity_last_check_ok 1.0" in metrics

    # upgrades take a snapshot first; it is outside the vanban-* retention, so a prune never drops it
    pre = backup.snapshot_before_upgrade(node.settings, node.config)
    assert pre.startswith("pre-upgrade-") and pre in [a["name"] for a in backup.list_archives(node.config, "local")]


def test_archive_carries_the_exchange_identity(node):
    """A node rebuilt from its archive (docs/rebuild.md) must come back as the same exchange participant:
    its certificate and signing key (pki/exchange/) and exchange.toml (node name, hub address)."""
    live = node.settings.data_path
    (live / "pki" / "exchange").mkdir(parents=True, exist_ok=True)
    (live / "pki" / "exchange" / "tls.key").write_text("test key, not a secret\n")
    (live / "exchange.toml").write_text('node_name = "node1"\nhub_url = "https://hub.example:8443"\n')
    assert backup.run_backup(node.settings, node.config)["failed"] == []
    target = node.root / "restored"
    backup.restore(node.settings, node.config, "latest", target=target)
    assert (target / "exchange.toml").read_text() == (live / "exchange.toml").read_text()
    assert (target / "pki" / "exchange" / "tls.key").read_text() == "test key, not a secret\n"


@pytest.mark.slow
def test_restore_yes_swaps_and_keeps_previous(node, capsys):
    node.register(2, start=1)
    assert run_cli(node, "backup", "now", "--quiet") == 0
    node.register(2, start=10)
    live = node.settings.data_path
    from vanban.models import database

    database.close()  # checkpoints the WAL: the digest below is of the settled files
    before = tree_digest(live)
    assert run_cli(node, "restore", "latest", "--yes") == 0
    assert doc_count(live / "vanban.db") == 2
    previous = [p for p in live.parent.iterdir() if p.name.startswith(f"{live.name}.before-restore-")]
    assert len(previous) == 1 and tree_digest(previous[0]) == before and doc_count(previous[0] / "vanban.db") == 4
    assert "dữ liệu cũ giữ tại" in capsys.readouterr().out


@pytest.mark.slow
def test_restore_refuses_while_app_holds_database(node, capsys):
    node.register(1, start=1)
    assert run_cli(node, "backup", "now", "--quiet") == 0
    holder = subprocess.Popen(["python3", "-c", "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1]); "
                               "c.execute('select 1 from document'); print('ok', flush=True); time.sleep(60)",
                               str(node.settings.db_path)], stdout=subprocess.PIPE)
    try:
        holder.stdout.readline()
        before = tree_digest(node.settings.data_path)
        assert run_cli(node, "restore", "latest", "--yes") == 2
        assert "restore_live_in_use" in capsys.readouterr().err
        assert tree_digest(node.settings.data_path) == before
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------- bad input: each a clear error, live data untouched

def test_newer_schema_snapshot_is_refused(node, capsys):
    from vanban.models.migrations import LATEST

    con = sqlite3.connect(node.settings.db_path)
    con.execute("INSERT INTO schema_version(version, applied_at) VALUES (?, '2030-01-01 00:00:00')", (LATEST + 1,))
    con.commit()
    assert run_cli(node, "backup", "now", "--quiet") == 0  # a snapshot as a newer release would have taken it
    con.execute("DELETE FROM schema_version WHERE version = ?", (LATEST + 1,))
    con.commit()
    con.close()
    live = node.settings.data_path
    before = tree_digest(live)
    assert run_cli(node, "restore", "latest", "--yes") == 2
    err = capsys.readouterr().err
    assert "restore_newer_schema" in err and f"phiên bản {LATEST + 1}" in err and "nâng cấp" in err
    assert tree_digest(live) == before
    assert not [p for p in live.parent.iterdir() if ".restore-" in p.name or ".before-restore-" in p.name]


def test_wrong_passphrase(node, capsys):
    node.register(1, start=1)
    wrong = node.root / "wrong.passphrase"
    wrong.write_text("not the passphrase\n")
    wrong.chmod(0o600)
    before = tree_digest(node.settings.data_path)
    report = backup.run_backup(node.settings, node.with_config(passphrase_file=str(wrong)))
    assert report["failed"] == ["local"] and report["repos"]["local"]["code"] == "backup_bad_passphrase"
    assert "Mật khẩu kho sao lưu" in report["repos"]["local"]["error"]
    assert tree_digest(node.settings.data_path) == before
    assert backup.list_archives(node.config, "local") == []
    assert "repo=" not in node.metrics()  # no success recorded
    wrong.chmod(0o644)
    with pytest.raises(BackupError) as e:
        backup.list_archives(node.with_config(passphrase_file=str(wrong)), "local")
    assert e.value.code == "backup_passphrase_insecure"


@pytest.mark.slow
def test_full_backup_disk(node, tmp_path):
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): full-disk case not exercised")
    try:
        config = node.with_config(local_repo=str(mnt / "repo"))
        backup.init_repo(config, "local")
        node.register(4, start=1, size=2_000_000)  # 8 MB of incompressible attachments for a 5 MB disk
        before = tree_digest(node.settings.data_path)
        report = backup.run_backup(node.settings, config)
        assert report["repos"]["local"]["code"] == "backup_disk_full", report
        assert "đầy" in report["repos"]["local"]["error"]
        assert tree_digest(node.settings.data_path) == before
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


@pytest.mark.slow
def test_unreachable_hub_does_not_stop_local(node, capsys):
    node.register(1, start=1)
    config = node.with_config(hub_repo="ssh://backup@127.0.0.1:9/./H19.42",
                              rsh="ssh -o BatchMode=yes -o ConnectTimeout=3 -o StrictHostKeyChecking=no")
    report = backup.run_backup(node.settings, config)
    assert report["failed"] == ["hub"] and report["repos"]["hub"]["code"] == "backup_repo_unreachable"
    assert "Không kết nối được" in report["repos"]["hub"]["error"]
    assert "finished_at" in report["repos"]["local"]
    metrics = node.metrics()
    assert 'repo="local"' in metrics and 'repo="hub"' not in metrics
    node.config = config
    assert run_cli(node, "backup", "list") == 2  # the local list is still shown
    captured = capsys.readouterr()
    assert report["archive"] in captured.out and "backup_repo_unreachable" in captured.err


def _leave_lock(config, host_id: str | None) -> None:
    """A borg that holds the repository lock and dies by SIGKILL, like a backup cut by a power loss."""
    env = backup.Borg(config, "local", config.local_repo).env()
    if host_id:
        env["BORG_HOST_ID"] = host_id
    proc = subprocess.Popen(["borg", "with-lock", config.local_repo, "sleep", "60"], env=env)
    lock = Path(config.local_repo) / "lock.exclusive"
    for _ in range(100):
        if lock.exists() and any(lock.iterdir()):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert lock.exists()


@pytest.mark.slow
def test_stale_lock_needs_break_lock_flag(node, capsys):
    # A lock from another host id (the disk was moved, or the host was rebuilt) cannot be judged stale by borg.
    _leave_lock(node.config, "old-host@4242")
    assert run_cli(node, "backup", "now", "--quiet") == 2
    err = capsys.readouterr().err
    assert "backup_repo_locked" in err and "old-host@4242" in err and "--break-lock" in err
    assert run_cli(node, "backup", "now", "--quiet", "--break-lock") == 0
    assert len(backup.list_archives(node.config, "local")) == 1


@pytest.mark.slow
def test_lock_of_a_crashed_run_on_this_host_is_cleared_by_borg(node):
    # Same host id, dead pid: borg 1.2 removes the lock itself, so the next timer run just works.
    _leave_lock(node.config, None)
    assert backup.run_backup(node.settings, node.config)["failed"] == []


# ---------------------------------------------------------------- off-site copy: append-only


@pytest.fixture
def hub(node, tmp_path):
    """The hub's repository directory and the node's config pointing at it through a forced-command script."""
    hub_dir = tmp_path / "hub" / "H19.42"
    hub_dir.parent.mkdir()
    script = tmp_path / "forced-command.sh"
    script.write_text("#!/bin/sh\n# what authorized_keys runs for this node's key, whatever the client asked\n"
                      f"exec borg serve --append-only --restrict-to-repository {hub_dir}\n")
    script.chmod(0o755)
    config = node.with_config(hub_repo=f"ssh://borg@hub{hub_dir}", rsh=str(script))
    backup.init_repo(config, "hub")
    return hub_dir, config


def segments(repo_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (repo_dir / "data").glob("*/*")}


@pytest.mark.slow
def test_hub_copy_survives_delete_and_prune_from_the_node(node, hub, tmp_path):
    hub_dir, config = hub
    node.register(3, start=1)
    first = backup.run_backup(node.settings, config, repos=["hub"])
    second = backup.run_backup(node.settings, config, repos=["hub"], label="second")
    assert first["failed"] == second["failed"] == []
    archives = [first["archive"], second["archive"]]
    kept = segments(hub_dir)
    last_good = backup.transactions(hub_dir)[-1][0]

    # A compromised node uses its own credentials to destroy its history: prune, delete, compact.
    borg = backup.repo(config, "hub")
    borg.run("prune", "--keep-last", "1")
    borg.run("delete", archive=archives[1])
    borg.run("compact")
    env = borg.env()
    env["BORG_DELETE_I_KNOW_WHAT_I_AM_DOING"] = "YES"
    whole = subprocess.run(["borg", "delete", config.hub_repo], env=env, capture_output=True, text=True)
    assert whole.returncode != 0 and "append-only" in whole.stderr
    other = subprocess.run(["borg", "init", "-e", "repokey", f"ssh://borg@hub{hub_dir.parent}/other"],
                           env=env, capture_output=True, text=True)
    assert other.returncode != 0 and "not allowed" in other.stderr  # restricted to its own repository

    # What the node sees: the archive is gone from the manifest (borg's append-only mode does not refuse the
    # delete, it records it in a new transaction) ...
    assert backup.list_archives(config, "hub") == []
    # ... but no segment written before was removed or changed: the data is all still there.
    after = segments(hub_dir)
    assert all(after.get(name) == digest for name, digest in kept.items())
    assert len(backup.transactions(hub_dir)) > 1

    # The hub admin rolls the repository back to the last good transaction; a recovery host restores from it.
    moved = backup.rollback_append_only(hub_dir, last_good)
    assert moved
    recovery = node.with_config(hub_repo=config.hub_repo, rsh=config.rsh, borg_base_dir=str(tmp_path / "rescue"))
    assert [a["name"] for a in backup.list_archives(recovery, "hub")] == archives
    report = backup.restore(node.settings, recovery, archives[0], repo_name="hub", target=tmp_path / "rebuilt")
    assert report["problems"] == [] and report["counts"]["document"] == 3


# ---------------------------------------------------------------- corruption


def flip_byte(repo_dir: Path) -> Path:
    biggest = max((repo_dir / "data").glob("*/*"), key=lambda p: p.stat().st_size)
    with open(biggest, "r+b") as fh:
        fh.seek(biggest.stat().st_size // 2)
        b = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([b[0] ^ 0x01]))
    return biggest


@pytest.mark.slow
def test_flipped_byte_is_found_by_verify_and_fails_the_drill(node, capsys):
    node.register(3, start=1, size=200_000)
    assert backup.run_backup(node.settings, node.config)["failed"] == []
    assert run_cli(node, "backup", "verify") == 0
    assert run_cli(node, "backup", "drill", "--quiet") == 0
    assert "vanban_restore_drill_success 1.0" in node.metrics("vanban_restore_drill.prom")
    capsys.readouterr()
    flip_byte(Path(node.config.local_repo))

    assert run_cli(node, "backup", "verify") == 2
    assert "lỗi" in capsys.readouterr().err
    report = backup.drill(node.settings, node.config)
    assert not report["ok"] and report["problems"]
    assert "blobs_checked" not in report  # it stopped at the damaged data instead of checking garbage
    metrics = node.metrics("vanban_restore_drill.prom")
    assert "vanban_restore_drill_success 0.0" in metrics
    assert "vanban_restore_drill_last_success_timestamp_seconds" in metrics  # the earlier success is kept
    assert not Path(f"{node.settings.data_path}.drill").exists()


# ---------------------------------------------------------------- consistency under load


@pytest.mark.slow
def test_backup_during_heavy_writes_restores_consistent(node, tmp_path):
    stop = threading.Event()
    written, failures = [], []

    def writer():
        i = 1000
        while not stop.is_set():
            try:
                written.extend(node.register(1, start=i, size=50_000))
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(exc)
                return
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:
            time.sleep(0.05)
        reports = [backup.run_backup(node.settings, node.config, label=f"load{k}") for k in range(2)]
    finally:
        stop.set()
        thread.join()
    assert not failures and all(r["failed"] == [] for r in reports)
    for k, r in enumerate(reports):
        target = tmp_path / f"load{k}"
        restored = backup.restore(node.settings, node.config, r["archive"], target=target)
        assert restored["problems"] == [] and restored["blobs_checked"] == restored["blobs_total"]
        n = restored["counts"]["document"]
        assert 5 <= n <= len(written)
        # the hash-chained audit log of the copy verifies end to end (no half transaction in it)
        done = subprocess.run([".venv/bin/vanban", "--data", str(target), "audit", "verify"],
                              capture_output=True, text=True, cwd=Path(__file__).parent.parent,
                              env={**os.environ, "VANBAN_CLAMD_SOCKET": ""})
        assert done.returncode == 0, done.stdout + done.stderr
    assert reports[1]["manifest"]["counts"]["document"] >= reports[0]["manifest"]["counts"]["document"]
