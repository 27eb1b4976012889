"""Real-browser test helpers: a real gunicorn serving the app on a free loopback port, and Debian's Chromium
driven headless through Playwright (never `playwright install`: the browser is the distribution's).

The server runs the production app factory with one injected part swapped: the clock. `make_app()` below is a
test-only gunicorn entry (`browser:make_app()`) that hands create_app a FileClock, so the test can move time
forward (a deadline passing) across every worker without any production code knowing about it.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

from vanban.clock import VN, SystemClock

HERE = Path(__file__).parent
CHROMIUM = "/usr/bin/chromium"
# Quiet, offline Chromium: no background fetches to Google services (tests may only touch loopback).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


class FileClock(SystemClock):
    """Reads the current time from a file on every call, so the test (another process) can set it.

    The file holds one ISO date-time; a missing or empty file is an error, never a silent fall back to the
    wall clock (that would make the overdue check depend on the day the test runs)."""

    def __init__(self, path, tz=VN):
        super().__init__(tz)
        self.path = Path(path)

    def now(self) -> datetime:
        at = datetime.fromisoformat(self.path.read_text().strip())
        return (at if at.tzinfo else at.replace(tzinfo=self.tz)).astimezone(self.tz)

    @staticmethod
    def set(path, at: datetime) -> None:
        tmp = Path(f"{path}.tmp")
        tmp.write_text(at.isoformat())
        os.replace(tmp, path)  # atomic: a worker never reads half a timestamp


def make_app():
    """gunicorn entry for tests: the production factory, settings from VANBAN_* variables, the file clock."""
    from vanban.settings import load_settings
    from vanban.web.app import create_app

    return create_app(load_settings(), clock=FileClock(os.environ["VANBAN_TEST_CLOCK_FILE"]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn with the production config file (python:vanban.gunicorn_conf), bound to a free loopback port."""

    def __init__(self, data_dir: Path, clock_file: Path, log_file: Path, *, clamd_socket: str = "", workers=2):
        self.data_dir, self.clock_file, self.log_file = Path(data_dir), Path(clock_file), Path(log_file)
        self.clamd_socket, self.workers = clamd_socket, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VANBAN_", "PROMETHEUS_"))}
        env.update({"PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                    "VANBAN_DATA_DIR": str(self.data_dir), "VANBAN_BIND": f"127.0.0.1:{self.port}",
                    "VANBAN_WORKERS": str(self.workers), "VANBAN_CLAMD_SOCKET": self.clamd_socket,
                    "VANBAN_ANTIVIRUS_REQUIRED": "1" if self.clamd_socket else "0",
                    # plain HTTP on loopback; text extraction inline (no separate huey consumer to manage)
                    "VANBAN_COOKIE_SECURE": "0", "VANBAN_JOBS_IMMEDIATE": "1",
                    "VANBAN_TEST_CLOCK_FILE": str(self.clock_file)})
        return env

    def start(self, timeout=30) -> Server:
        log = self.log_file.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:vanban.gunicorn_conf",
             # gunicorn 27 opens a control socket at ~/.gunicorn/gunicorn.ctl by default: shared by every
             # gunicorn of the user, so parallel test servers would fight over it
             "--no-control-socket", "browser:make_app()"],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=HERE)
        log.close()
        return wait_until_healthy(self, timeout)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-4000:] if self.log_file.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # gunicorn's graceful stop: the master stops its workers
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def login(browser, base_url: str, username: str, password: str, **context_options):
    """A fresh browser context (own cookies) logged in through the login form; returns its page."""
    context = browser.new_context(base_url=base_url, locale="vi-VN", **context_options)
    context.set_default_timeout(8000)  # a missing element fails in seconds, not after 30 s
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/inbox*")
    return page


def wait_until_healthy(server, timeout):
    """Wait for a started gunicorn (server: .proc, .url, .log(), .stop()) to answer /healthz; stop it and
    raise with its log when it exits or does not answer in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({server.proc.returncode}):\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer /healthz in {timeout} s:\n{server.log()}")
