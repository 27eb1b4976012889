"""What a use case needs besides its arguments: injected so tests swap each part without monkeypatching."""
from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings


@dataclass
class Context:
    settings: Settings
    clock: object  # clock.SystemClock or FixedClock
    blobs: object  # core.blobs.BlobStore
    scanner: object  # antivirus.ClamdScanner or NullScanner
    jobs: object  # jobs.Jobs (background queue) or an inline runner
