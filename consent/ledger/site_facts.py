"""What recording a decision needs of a site, read once per worker and confirmed by every write.

A site's columns, allowed origins, current policy and revision (raised by every change to its
configuration) come from a cache in the worker, so a decision reads nothing before its write. The chain
writer reads the revision again under the site's lock: a decision prepared from a copy that another
worker or host has made stale since is prepared again from the database (decisions.record_consent), never
stored. What the cache would refuse (an origin it does not know, a policy version other than its current
one) is asked of the database before it is refused, so an origin or a version just added works at once.
"""
from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import bindparam, select

from consent.errors import NotFound
from consent.ledger import receipts
from consent.ledger.choices import own_step_ids
from consent.schemas import SITE_ID_PATTERN
from consent.sites.configs import current_policy
from consent.storage.models import ORIGINS, SITES

# The columns of a site a decision reads, and its origins: built once.
SITE_COLUMNS = select(
    SITES.c.id, SITES.c.name, SITES.c.controller, SITES.c.jurisdiction, SITES.c.current_policy_version,
    SITES.c.age_gate, SITES.c.age_threshold, SITES.c.consent_lifetime_months, SITES.c.revision,
    SITES.c.lanes,
).where(SITES.c.id == bindparam("site_id"))
SITE_ORIGINS = select(ORIGINS.c.origin).where(ORIGINS.c.site_id == bindparam("site_id"))

# Stands for the service's own visitor pages (the "my data" page) acting for a site. They have no
# embedding origin: they prove the visitor with a receipt token instead, and never answer via CORS.
SERVICE_PAGE = object()


@dataclass(frozen=True)
class PublishedPolicy:
    """What recording a decision needs of a policy version: published versions never change."""

    version: str
    url: str
    purposes: list
    text_hash: str  # receipts.policy_text_hash of the archived version: receipts pin it
    effective_date: date | None = None  # from when the version applies, if it says
    own_step: frozenset = frozenset()  # choices.own_step_ids(purposes)


@dataclass(frozen=True)
class SiteFacts:
    site: object  # a row of SITE_COLUMNS
    origins: frozenset
    policy: PublishedPolicy

    def allow(self, origin, policy_version=None):
        """Whether this copy lets `origin` (or SERVICE_PAGE) record a decision under `policy_version` (None: any)."""
        origin_allowed = origin is SERVICE_PAGE or origin in self.origins
        return origin_allowed and policy_version in (None, self.policy.version)


def site_facts(session, site_id, origin, policy_version=None):
    """The worker's copy of site `site_id`, read anew when it would refuse `origin` or `policy_version`.

    NotFound for a site that does not exist; ids that could not exist are refused without a query.
    """
    cache = current_app.extensions.setdefault("consent.site_facts", {})
    facts = cache.get(site_id)
    if facts is None or not facts.allow(origin, policy_version):
        facts = cache[site_id] = read_site_facts(session, site_id)
    return facts


def forget(site_id):
    """Drop this worker's copy of `site_id`: the chain writer found its revision moved on."""
    current_app.extensions.setdefault("consent.site_facts", {}).pop(site_id, None)


def read_site_facts(session, site_id):
    site = None
    if isinstance(site_id, str) and SITE_ID_PATTERN.fullmatch(site_id):
        site = session.execute(SITE_COLUMNS, {"site_id": site_id}).first()
    if site is None:
        raise NotFound(f"No site {site_id!r} is configured here.")
    origins = frozenset(session.scalars(SITE_ORIGINS, {"site_id": site_id}))
    return SiteFacts(site, origins, published_policy(session, site))


def published_policy(session, site):
    """The site's current policy version, read once per worker: it can never change once published."""
    cache = current_app.extensions.setdefault("consent.published_policies", {})
    key = (site.id, site.current_policy_version)
    if key not in cache:
        policy = current_policy(session, site)
        cache[key] = PublishedPolicy(policy.version, policy.url, policy.purposes, receipts.policy_text_hash(policy),
                                     policy.effective_date, own_step_ids(policy.purposes))
    return cache[key]
