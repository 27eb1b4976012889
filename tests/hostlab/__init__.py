"""Test-host harness: real Debian hosts (systemd-nspawn in network namespaces) for playbook tests.

Public API: Lab (context manager), Host, Outsider, LabError, check_prerequisites, cleanup_stale.
pytest fixtures live in hostlab.fixtures (use `pytest_plugins = ("hostlab.fixtures",)`).
"""

from .errors import LabError
from .lab import Host, Lab, Outsider, check_prerequisites, cleanup_stale

__all__ = ["Host", "Lab", "LabError", "Outsider", "check_prerequisites", "cleanup_stale"]
