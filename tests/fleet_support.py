"""Test helpers of the fleet page (test_fleet.py): a hub app under gunicorn that reads a given fleet Prometheus.

`make_app()` is a test-only gunicorn entry (`fleet_support:make_app()`), like browser.make_app, that also sets
`fleet_prometheus_url` from VANBAN_TEST_FLEET_URL: settings.py does not declare that setting yet (the lead adds
it; then VANBAN_FLEET_PROMETHEUS_URL does the same), and load_settings refuses unknown names.
"""
from __future__ import annotations

import os
import subprocess
import sys

from browser import HERE, FileClock, Server, wait_until_healthy


def make_app():
    from vanban.settings import Settings, load_settings
    from vanban.web.app import create_app

    settings = load_settings()
    settings = Settings({**settings.values, "fleet_prometheus_url": os.environ["VANBAN_TEST_FLEET_URL"]})
    return create_app(settings, clock=FileClock(os.environ["VANBAN_TEST_CLOCK_FILE"]))


class HubServer(Server):
    """browser.Server with role=hub and the fleet Prometheus URL; the production gunicorn config otherwise."""

    def __init__(self, *args, fleet_url: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fleet_url = fleet_url

    def env(self) -> dict:
        return {**super().env(), "VANBAN_ROLE": "hub", "VANBAN_TEST_FLEET_URL": self.fleet_url}

    def start(self, timeout=30) -> HubServer:
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "python:vanban.gunicorn_conf", "--no-control-socket",
                 "fleet_support:make_app()"], env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=HERE)
        return wait_until_healthy(self, timeout)
