"""pytest fixtures for tests that need real hosts.

In a test module:  pytest_plugins = ("hostlab.fixtures",)
then ask for `lab_factory` (labs torn down after the test) or `module_lab_factory` (after the module):

    def test_x(lab_factory):
        lab = lab_factory(["hub", "node1"], name="backup")
"""

from __future__ import annotations

import os

import pytest

from .lab import Lab, check_prerequisites, cleanup_stale


def _skip_unless_root() -> None:
    # Only the missing privilege is a reason to skip; missing tools are an error (`make debs` fixes them).
    if os.geteuid() != 0:
        pytest.skip("real test hosts need root (network namespaces, mounts, systemd-nspawn)")
    check_prerequisites()


def _factory(request):
    _skip_unless_root()
    cleanup_stale()
    labs: list[Lab] = []

    def make(hosts: list[str], name: str = "lab") -> Lab:
        lab = Lab(hosts, name=name)
        lab.__enter__()
        labs.append(lab)
        return lab

    def finish():
        for lab in reversed(labs):
            lab.teardown()

    request.addfinalizer(finish)
    return make


@pytest.fixture
def lab_factory(request):
    """Callable (hosts, name) -> started Lab; every lab is torn down after the test."""
    return _factory(request)


@pytest.fixture(scope="module")
def module_lab_factory(request):
    """Like lab_factory, but the labs live until the end of the test module."""
    return _factory(request)
