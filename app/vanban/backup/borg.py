"""Running borg for one repository: passphrase and SSH environment, --log-json events, errors mapped to
BackupError with a stable code; init, list, check."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import BackupConfig, BackupError, _quiet

# borg --log-json error ids -> (stable code, Vietnamese message template)
_BORG_ERRORS = {
    "PassphraseWrong": ("backup_bad_passphrase",
                        "Mật khẩu kho sao lưu {repo} không đúng (tệp {passphrase_file})."),
    "LockTimeout": ("backup_repo_locked",
                    "Kho sao lưu {repo} đang bị khóa bởi một lần chạy khác{holder}. Nếu chắc chắn không còn "
                    "tiến trình borg nào dùng kho này (lần chạy trước bị ngắt), chạy lại với --break-lock."),
    "LockFailed": ("backup_repo_locked", "Không khóa được kho sao lưu {repo}: {detail}"),
    "Repository.DoesNotExist": ("backup_repo_missing",
                                "Kho sao lưu {repo} chưa được khởi tạo; chạy `vanban backup init`."),
    "Repository.InvalidRepository": ("backup_repo_missing", "{repo} không phải là kho borg: {detail}"),
    "Repository.InsufficientFreeSpaceError": ("backup_disk_full", "Đĩa chứa kho sao lưu {repo} đã đầy: {detail}"),
    "ConnectionClosed": ("backup_repo_unreachable", "Không kết nối được kho sao lưu {repo}: {detail}"),
    "ConnectionClosedWithHint": ("backup_repo_unreachable", "Không kết nối được kho sao lưu {repo}: {detail}"),
    "PathNotAllowed": ("backup_repo_unreachable", "Máy chủ từ chối đường dẫn kho {repo}: {detail}"),
    "Archive.DoesNotExist": ("backup_snapshot_missing", "Không có bản sao lưu này trong kho {repo}."),
    "IntegrityError": ("backup_repo_corrupt", "Kho sao lưu {repo} bị hỏng dữ liệu: {detail}"),
    "Repository.ObjectNotFound": ("backup_repo_corrupt", "Kho sao lưu {repo} thiếu dữ liệu: {detail}"),
}


@dataclass
class BorgResult:
    rc: int
    stdout: str
    warnings: list


class Borg:
    """Runs borg for one repository with the node's passphrase and SSH settings; maps failures to BackupError."""

    def __init__(self, config: BackupConfig, name: str, url: str):
        self.config, self.name, self.url = config, name, url

    def env(self) -> dict:
        pf = self.config.passphrase_file
        if not os.path.isfile(pf):
            raise BackupError(f"Không có tệp mật khẩu sao lưu {pf}.", code="backup_passphrase_missing")
        if os.stat(pf).st_mode & 0o077:
            raise BackupError(f"Tệp mật khẩu {pf} không được để người khác đọc (chmod 600).",
                              code="backup_passphrase_insecure")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BORG_")}
        env.update(BORG_PASSCOMMAND=f"cat {shlex.quote(pf)}", LANG="C.UTF-8",
                   # never answer borg's safety prompts with yes behind the admin's back
                   BORG_RELOCATED_REPO_ACCESS_IS_OK="no", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="no",
                   BORG_DELETE_I_KNOW_WHAT_I_AM_DOING="NO", BORG_CHECK_I_KNOW_WHAT_I_AM_DOING="NO")
        if self.config.borg_base_dir:
            env["BORG_BASE_DIR"] = self.config.borg_base_dir
        if self.config.rsh:
            env["BORG_RSH"] = self.config.rsh
        elif self.config.ssh_key:
            env["BORG_RSH"] = (f"ssh -i {shlex.quote(self.config.ssh_key)} -o BatchMode=yes "
                               "-o ConnectTimeout=20 -o ServerAliveInterval=30")
        return env

    def run(self, *args, archive: str | None = None, extra=(), progress=_quiet, cwd=None, lock=True) -> BorgResult:
        location = f"{self.url}::{archive}" if archive else self.url
        cmd = ["borg", "--log-json", *((["--lock-wait", str(self.config.lock_wait)]) if lock else []),
               *args, location, *extra]
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    env=self.env(), cwd=cwd)
            errors, warnings = [], []
            for raw in proc.stderr:
                event = _parse_event(raw)
                if event.get("type") == "log_message":
                    level = event.get("levelname")
                    (errors if level in ("ERROR", "CRITICAL") else warnings if level == "WARNING" else [])\
                        .append(event)
                else:
                    progress(event)
            rc = proc.wait()
            out.seek(0)
            stdout = out.read().decode("utf-8", "replace")
        if rc >= 2 or errors and rc != 0:
            raise self._error(errors or warnings, rc)
        return BorgResult(rc, stdout, [w.get("message", "") for w in warnings])

    def _error(self, events, rc) -> BackupError:
        detail = " ".join(e.get("message", "") for e in events[-3:]).strip() or f"borg exit code {rc}"
        msgid = next((e["msgid"] for e in reversed(events) if e.get("msgid") in _BORG_ERRORS), "")
        if not msgid and ("No space left" in detail or "Errno 28" in detail):
            msgid = "Repository.InsufficientFreeSpaceError"
        if not msgid and ("Data integrity error" in detail or "IntegrityError" in detail):
            msgid = "IntegrityError"
        if not msgid:
            return BackupError(f"borg thất bại với kho {self.name} ({self.url}): {detail}")
        code, template = _BORG_ERRORS[msgid]
        message = template.format(repo=f"{self.name} ({self.url})", detail=detail, holder=self._holder(),
                                  passphrase_file=self.config.passphrase_file)
        return BackupError(message, code=code)

    def _holder(self) -> str:
        """Who holds a local repository's lock (host id, pid), so the admin can tell a crash from a live run."""
        roster = Path(self.url) / "lock.roster"
        try:
            exclusive = json.loads(roster.read_text()).get("exclusive") or []
        except (OSError, ValueError):
            return ""
        return "".join(f" ({host}, tiến trình {pid})" for host, pid, _ in exclusive[:1])

    def break_lock(self) -> None:
        self.run("break-lock", lock=False)


def _parse_event(raw: bytes) -> dict:
    try:
        return json.loads(raw)
    except ValueError:  # borg prints tracebacks and remote output as plain text
        return {"type": "log_message", "levelname": "WARNING", "message": raw.decode("utf-8", "replace").strip()}


def repo(config: BackupConfig, name: str) -> Borg:
    repos = config.repos()
    if name not in repos:
        raise BackupError(f"Chưa cấu hình kho sao lưu '{name}' (backup.toml: {name}_repo).",
                          code="backup_repo_not_configured")
    return Borg(config, name, repos[name])


def init_repo(config: BackupConfig, name: str) -> str:
    borg = repo(config, name)
    if not borg.url.startswith("ssh://"):
        Path(borg.url).parent.mkdir(parents=True, exist_ok=True)
    borg.run("init", "--encryption", "repokey-blake2", lock=False)
    return borg.url


def list_archives(config: BackupConfig, name: str) -> list[dict]:
    data = json.loads(repo(config, name).run("list", "--json").stdout)
    return data.get("archives", [])


def latest_archive(config: BackupConfig, name: str) -> str:
    archives = list_archives(config, name)
    if not archives:
        raise BackupError(f"Kho {name} chưa có bản sao lưu nào.", code="backup_snapshot_missing")
    return archives[-1]["name"]


def verify_repo(config: BackupConfig, name: str, *, verify_data=False, progress=_quiet) -> BorgResult:
    """`borg check`: repository segments (CRC) and archive metadata; --verify-data also decrypts and
    authenticates every chunk (slow: reads the whole repository)."""
    args = ["check", "--progress"] + (["--verify-data"] if verify_data else [])
    return repo(config, name).run(*args, progress=progress)
