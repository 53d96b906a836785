"""The service's one clock, for everything that depends on the date: when a decision is recorded, whether
it has expired, whether a subject token is still valid.

Read it as `clock.now()`, never `from consent.clock import now`: a test shifts time for the whole
service with `monkeypatch.setattr(clock, "now", ...)` (the `clock` fixture in tests/conftest.py does
it), which a name copied at import would not see.
"""
from datetime import UTC, datetime


def now():
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
