"""How long a decision lasts: a site's `consent_lifetime_months` (1 to 13, 12 by default) from when it was made.

A decision expires `months` calendar months after its `decided_at`, in UTC, at the same time of day,
on the same day of the month or, where that month is shorter, on its last day (31 January plus one
month is 28 or 29 February). The lifetime that applies is the site's setting when the decision was
recorded: its expiry is stored with it, in the event's hashed document (`expires_at`) and the signed
receipt (`expiresAt`), so a later change of the setting moves no decision already made.

An expired decision counts as no decision: the widget asks again, and the backend API answers as for
a user who never decided (consent/subjects/rights.py).
"""
import calendar
import json
from datetime import UTC, datetime, timedelta

from consent.storage.models import in_utc

DEFAULT_MONTHS = 12
MAX_MONTHS = 13  # as CNIL's guidance on cookies has it: ask again after 13 months at the latest
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def expiry(decided_at, months):
    """`decided_at` plus `months` calendar months in UTC, clamped to the month's last day, same time of day."""
    moment = in_utc(decided_at).astimezone(UTC)
    months_since_year_zero = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(months_since_year_zero, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def has_expired(expires_at, now):
    """Whether a decision expiring at `expires_at` is over at `now`: from that very instant on, it is."""
    return now >= expires_at


def event_expiry(event):
    """When a stored decision (a ConsentEvent) expires, as its hashed document says.

    Events recorded before decisions had a lifetime (migration 0015) say nothing, and nothing can be
    added to them: they are append-only, and their hash pins every byte. They are read as having had the
    default lifetime, counted from when they were decided (their arrival, where they hold no decision time).
    """
    stated = json.loads(event.document).get("expires_at")
    if stated:
        return in_utc(datetime.fromisoformat(stated))
    return expiry(event.decided_at or event.created_at, DEFAULT_MONTHS)


def receipt_expiry(receipt):
    """When the decision a receipt (a dict) proves expires: its `expiresAt`, or for a receipt older than
    lifetimes, the default lifetime from its `decidedAt` (or its `consentTimestamp`), as event_expiry."""
    if receipt.get("expiresAt"):
        return in_utc(datetime.fromisoformat(receipt["expiresAt"]))
    if receipt.get("decidedAt"):
        return expiry(datetime.fromisoformat(receipt["decidedAt"]), DEFAULT_MONTHS)
    return expiry(datetime.fromtimestamp(receipt["consentTimestamp"], UTC), DEFAULT_MONTHS)


def epoch_ms(moment):
    """Milliseconds since 1970 in whole numbers, as the widget keeps times (no float rounding on the way)."""
    return (in_utc(moment) - EPOCH) // timedelta(milliseconds=1)


def expiry_fields(expires_at):
    """What an answer to the widget says of a decision's expiry: ISO 8601 and epoch milliseconds."""
    return {"expires_at": expires_at.isoformat(), "expires_at_ms": epoch_ms(expires_at)}
