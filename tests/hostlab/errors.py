"""Errors raised by the test-host harness."""


class LabError(RuntimeError):
    """The lab could not be built, started or reached; the message says which step and why."""
