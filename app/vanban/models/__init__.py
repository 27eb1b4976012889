from .db import database, init_database, write_transaction
from .schema import *  # noqa: F403
from .schema import ALL_MODELS

__all__ = ["database", "init_database", "write_transaction", "ALL_MODELS"]
