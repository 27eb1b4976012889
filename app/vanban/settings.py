"""Settings are a documented table: every knob has a default and a help text (README lists them all).

Values come from, in order: the defaults below, a TOML file (``VANBAN_CONFIG`` or ``--config``), then
environment variables ``VANBAN_<NAME>``.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    help: str
    minimum: int = 1  # for whole-number settings


SETTINGS = [
    Setting("data_dir", "/var/lib/vanban", "Data directory: vanban.db, blobs/, huey.db, pki/, tmp/."),
    Setting("role", "node", "`node` (hosts agencies) or `hub` (provincial directory and relay)."),
    Setting("bind", "127.0.0.1:8080", "Address gunicorn binds to (host:port or unix:/path); nginx sits in front."),
    Setting("workers", 2, "gunicorn worker processes."),
    Setting("threads", 2, "Threads per gunicorn worker (gthread); nginx buffers slow clients, so a thread is "
            "busy only while the app computes or syncs."),
    Setting("timezone", "Asia/Ho_Chi_Minh", "Time zone of deadlines, registers and the working day."),
    Setting("max_upload_mb", 50, "Largest accepted request body in MB; larger uploads are refused before reading."),
    Setting("clamd_socket", "/run/clamav/clamd.ctl",
            "clamd Unix socket (or host:port) for INSTREAM scans; empty string disables scanning."),
    Setting("antivirus_required", True,
            "Refuse uploads when clamd is unreachable (fail closed). The demo turns this off."),
    Setting("session_hours", 10, "Idle lifetime of a login session in hours."),
    Setting("login_max_failures", 5, "Failed logins per user name or address within 15 minutes before throttling."),
    Setting("cookie_secure", True, "Send the session cookie only over HTTPS (off for the loopback demo)."),
    Setting("metrics_enabled", True, "Expose /metrics (Prometheus); nginx publishes it only to the hub."),
    Setting("jobs_immediate", False, "Run background jobs inline (tests, demo without a worker)."),
    Setting("smtp_host", "", "SMTP relay for notification mail (the province's relay); empty: no mail is sent."),
    Setting("smtp_port", 25, "Port of the SMTP relay."),
    Setting("smtp_from", "vanban@localhost", "Sender address of notification mail."),
    Setting("smtp_starttls", False, "Use STARTTLS with the relay."),
    Setting("smtp_username", "", "SMTP login, if the relay needs one."),
    Setting("smtp_password", "", "SMTP password (put it in the root-only config file, never in the repository)."),
    Setting("mail_batch_minutes", 15, "Notifications are gathered into one digest mail per user per this many minutes."),
    Setting("base_url", "", "Public address of this server, for links in mail (e.g. https://vanban.nhontrach.dongnai.gov.vn)."),
    Setting("fleet_prometheus_url", "http://127.0.0.1:9092",
            "Fleet Prometheus that the hub's fleet page (/fleet) reads through its HTTP API (vanban-prometheus-fleet)."),
    Setting("hub_keep_acknowledged_days", 14,
            "Hub: days an acknowledged message's bytes are kept, so a node rebuilt from an older backup gets it again.",
            minimum=0),
    Setting("search_candidates", 200, "Newest matches reranked per search; bounds search cost on big stores, and "
            "the count of matches stops at 5 times this."),
]

_DEFAULTS = {s.name: s.default for s in SETTINGS}
_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Values:
    """Settings read as attributes from a dict of documented names (also backup.BackupConfig)."""

    values: dict = field(default_factory=dict)

    def __getattr__(self, name):
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class Settings(Values):

    @property
    def data_path(self) -> Path:
        return Path(self.values["data_dir"])

    @property
    def db_path(self) -> Path:
        return self.data_path / "vanban.db"

    def replace(self, **changes) -> "Settings":
        unknown = set(changes) - set(_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        return Settings({**self.values, **changes})


def _coerce(name: str, raw: str):
    default = _DEFAULTS[name]
    if isinstance(default, bool):
        word = raw.strip().lower()
        if word not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            raise ValueError(f"VANBAN_{name.upper()} must be true or false, not {raw!r}")
        return word in ("1", "true", "yes", "on")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"VANBAN_{name.upper()} must be a whole number, not {raw!r}") from None
    return raw


def _check(values: dict, source: str) -> None:
    """Each value has its default's type (a TOML typo like workers = "2" or threads = 0 is refused at start,
    with the setting's name, not met later as a crash)."""
    for name, value in values.items():
        default, setting = _DEFAULTS[name], _BY_NAME[name]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{source}: {name} must be true or false, not {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{source}: {name} must be a whole number, not {value!r}")
            if value < setting.minimum:
                raise ValueError(f"{source}: {name} must be at least {setting.minimum}, not {value}")
        elif not isinstance(value, str):
            raise ValueError(f"{source}: {name} must be text, not {value!r}")


def load_settings(config_file: str | os.PathLike | None = None, environ=None, **overrides) -> Settings:
    """Build settings from defaults, the TOML file, the environment and explicit overrides."""
    environ = os.environ if environ is None else environ
    values = dict(_DEFAULTS)
    config_file = config_file or environ.get("VANBAN_CONFIG")
    if config_file:
        with open(config_file, "rb") as fh:
            data = tomllib.load(fh)
        unknown = set(data) - set(_DEFAULTS)
        if unknown:
            raise ValueError(f"{config_file}: unknown settings {', '.join(sorted(unknown))}")
        _check(data, str(config_file))
        values.update(data)
    for name in _DEFAULTS:
        raw = environ.get(f"VANBAN_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, raw)
            _check({name: values[name]}, f"VANBAN_{name.upper()}")
    given = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in overrides.items() if v is not None}
    _check({k: v for k, v in given.items() if k in _DEFAULTS}, "settings")
    values.update(given)
    if values["role"] not in ("node", "hub"):
        raise ValueError(f"role must be 'node' or 'hub', not {values['role']!r}")
    return Settings(values)
