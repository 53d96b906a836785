"""Storage: the engine and sessions, the tables, and their migrations."""
from consent.storage import models, operations  # noqa: F401  (every table on Base.metadata, wherever imported from)
