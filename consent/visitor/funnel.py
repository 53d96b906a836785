"""The banner's anonymous marks (README, "Banner statistics: what is counted, and on what legal footing").

The widget sends one mark when it shows the banner and one when the visitor decides from it. Each is stored as
one row of what it says: the site, the service's own time, the language, the outcome and, for a decision, the
whole seconds from the banner shown to the decision, capped. Never an address, a client hash, a visitor id, a
cookie or anything else that could link two marks or name who sent them (the request log leaves out the client
for this route too: consent/http/request_log.py). The roll-up (consent/stats/) counts the marks into daily
counters and deletes them.
"""
from sqlalchemy import bindparam, exists, insert, select

from consent import clock
from consent.errors import NotFound, OriginNotAllowed, StatisticsOff
from consent.schemas import SITE_ID_PATTERN
from consent.storage.db import get_session, storable, write_connection
from consent.storage.models import ORIGINS, SITES
from consent.storage.operations import FunnelMark

# The largest body taken (a mark is about 60 bytes): a larger one gets 413 before anything reads it.
MAX_MARK_BYTES = 256
# A decision that took longer is stored as this many seconds: "an hour or more" says all the figures need.
STORED_SECONDS_CAP = 3600

SITE_FOR_MARK = select(
    SITES.c.banner_statistics,
    exists().where(ORIGINS.c.site_id == SITES.c.id, ORIGINS.c.origin == bindparam("origin")).label("origin_allowed"),
).where(SITES.c.id == bindparam("site_id"))
STORE_MARK = insert(FunnelMark.__table__)


def record_mark(site_id, origin, mark):
    """Store one validated mark (consent/schemas.py FunnelMarkSchema) of `site_id`, sent from `origin`.

    Refused, storing nothing: an unknown site (NotFound), an origin the site does not allow or none
    (OriginNotAllowed), a site whose banner statistics are off (StatisticsOff).
    """
    origin = origin if isinstance(origin, str) and storable(origin) else ""  # "" matches no allowed origin
    query = {"site_id": site_id, "origin": origin}
    site = get_session().execute(SITE_FOR_MARK, query).first() if SITE_ID_PATTERN.match(site_id) else None
    if site is None:
        raise NotFound(f"No site {site_id!r} is configured here.")
    if not site.origin_allowed:
        raise OriginNotAllowed(f"Origin {origin or None!r} may not send marks for site {site_id!r}.")
    if not site.banner_statistics:
        raise StatisticsOff(f"Site {site_id!r} turned its banner statistics off; send no marks.")
    seconds = mark.get("seconds")  # decisions only
    with write_connection() as connection:
        connection.execute(STORE_MARK, {
            "site_id": site_id, "at": clock.now(), "language": mark["language"], "outcome": mark["mark"],
            "seconds": None if seconds is None else min(seconds, STORED_SECONDS_CAP),
        })
