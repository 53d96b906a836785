"""What a scan found wrong, from what three fresh visitors of each page met: before any choice, after
"Reject all", after "Accept all". Pure functions over observations, so every rule is tested without a browser.

Each cookie, storage key and contacted host is first classified: declared under one of the site's
purposes (necessary when that purpose is not based on consent), known from a list (consent/scanner/known.py),
or unknown. Then five rules, each finding with its evidence:

- before_consent (high): set before any choice, and not necessary; a third party contacted then, high
  when a list knows it as analytics, marketing or personalization, else medium;
- after_reject (high): still there, or contacted, after "Reject all", and not necessary (hosts as above);
- undeclared (medium): a cookie or storage key no purpose declares (the widget's own aside);
- outlives_declaration (medium): a cookie set to last longer than its declared lifetime;
- declared_not_seen (low): a cookie a purpose declares by exact name that no visit met, not even after
  "Accept all" (a stale declaration, or a page the scan did not reach).
"""
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from consent.sites import cookie_declarations, purposes

VISITS = ("before", "reject", "accept")
SEVERITIES = ("low", "medium", "high")
# A declared lifetime the way operators write it in English ("13 months", "1 year", "session"), in seconds.
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 31 * 86400,
         "year": 366 * 86400}
LIFETIME = re.compile(r"\A\s*(\d{1,4})\s*(second|minute|hour|day|week|month|year)s?\s*\Z", re.I)
# Cookies may be set a little longer than declared: clocks and rounding.
LIFETIME_SLACK_SECONDS = 86400


@dataclass(frozen=True)
class Cookie:
    name: str
    domain: str
    path: str = "/"
    expires: float = -1  # seconds since 1970; -1 a session cookie
    http_only: bool = False
    secure: bool = False
    same_site: str = ""
    third_party: bool = False
    set_by: str = ""  # the response or script that set it, where the browser told


@dataclass(frozen=True)
class StorageKey:
    area: str  # "local" or "session"
    key: str


@dataclass(frozen=True)
class Request:
    host: str
    resource_type: str
    initiator: str = ""


@dataclass
class Visit:
    """What one fresh visitor of one page met, at `at` (seconds since 1970), once the visit was over."""

    page: str
    kind: str  # one of VISITS
    at: float
    cookies: list = field(default_factory=list)
    storage: list = field(default_factory=list)
    requests: list = field(default_factory=list)  # requests to hosts other than the page's own


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    subject: str  # "cookie _ga", "localStorage key x", "host hm.baidu.com"
    page: str
    evidence: str
    purpose: str | None = None  # the declaring purpose, if any
    known: str | None = None  # what a list says it is ("Google Analytics, Analytics")


# What a list says of a host that makes contacting it before consent a tracker's doing, not a CDN's.
TRACKING_CATEGORIES = ("Analytics", "Marketing", "Personalization")


def findings(site_purposes, visits, widget_cookie, known_lists, service_host):
    """Every finding of a scan, most severe first, each once per rule, subject and page.

    `widget_cookie` is the widget's own cookie (its queue key is that and "_pending"), `service_host` the
    consent service's host, which the widget itself contacts.
    """
    classify = Classifier(site_purposes, widget_cookie, known_lists, service_host)
    found = {}

    def add(finding):
        found.setdefault((finding.rule, finding.subject, finding.page), finding)

    for visit in visits:
        rule = {"before": "before_consent", "reject": "after_reject"}.get(visit.kind)
        for thing, declared in classify.things(visit):
            host = isinstance(thing, Request)
            if declared is None and not host and not classify.is_widget(thing):
                add(Finding("undeclared", "medium", subject_of(thing), visit.page,
                            f"{describe(thing)}, met in the {visit.kind} visit", None, classify.known(thing)))
            if rule and not classify.necessary(declared) and not classify.is_widget(thing):
                what = "contacted" if host else "present"
                add(Finding(rule, classify.severity(thing), subject_of(thing), visit.page,
                            f"{describe(thing)}, {what} in the {visit.kind} visit",
                            declared and declared["id"], classify.known(thing)))
            if isinstance(thing, Cookie) and declared is not None:
                too_long = outlives(thing, declared_lifetime(declared, thing), visit.at)
                if too_long:
                    add(Finding("outlives_declaration", "medium", subject_of(thing), visit.page, too_long,
                                declared["id"], classify.known(thing)))
    seen = {cookie.name for visit in visits for cookie in visit.cookies}
    for purpose in site_purposes:
        for entry in purpose.get("cookies", []):
            name = entry if isinstance(entry, str) else entry.get("name")
            if name and name not in seen:
                add(Finding("declared_not_seen", "low", f"cookie {name}", "", "declared, but met in no visit",
                            purpose["id"]))
    return sorted(found.values(), key=lambda item: (-SEVERITIES.index(item.severity), item.rule, item.subject,
                                                    item.page))


class Classifier:
    """Which purpose declares a cookie, key or host, and what the lists know of it."""

    def __init__(self, site_purposes, widget_cookie, known_lists, service_host):
        self.purposes = site_purposes
        self.widget_cookie = widget_cookie
        self.lists = known_lists
        self.service_host = service_host

    def things(self, visit):
        """(cookie, storage key or request, its declaring purpose or None) of everything the visit met."""
        for cookie in visit.cookies:
            yield cookie, self.declaring("cookies", cookie.name)
        for entry in visit.storage:
            yield entry, self.declaring("storage", entry.key, entry.area)
        for request in visit.requests:
            yield request, self.declaring_host(request.host)

    def declaring(self, kind, name, area=None):
        if kind == "cookies" and name == self.widget_cookie:
            return None
        for purpose in self.purposes:
            for entry in purpose.get(kind, []):
                if _matches(entry, name, kind, area):
                    return purpose
        return None

    def declaring_host(self, host):
        """A purpose whose declared cookies name the host's domain (a third party's cookies, declared)."""
        for purpose in self.purposes:
            for entry in purpose.get("cookies", []):
                domain = not isinstance(entry, str) and entry.get("domain", "").lstrip(".")
                if domain and (host == domain or host.endswith("." + domain)):
                    return purpose
        return None

    def necessary(self, purpose):
        return purpose is not None and not purposes.is_consent(purpose)

    def is_widget(self, thing):
        """The widget's own cookie, queue and service: what asking for consent needs."""
        return (isinstance(thing, Cookie) and thing.name == self.widget_cookie
                or isinstance(thing, StorageKey) and thing.key == f"{self.widget_cookie}_pending"
                or isinstance(thing, Request) and thing.host == self.service_host)

    def severity(self, thing):
        if not isinstance(thing, Request):
            return "high"
        entry = self.lists.host(thing.host)
        return "high" if entry and entry.category in TRACKING_CATEGORIES else "medium"

    def known(self, thing):
        entry = (self.lists.host(thing.host) if isinstance(thing, Request)
                 else self.lists.cookie(thing.name if isinstance(thing, Cookie) else thing.key))
        return f"{entry.platform}, {entry.category}" if entry else None


def _matches(entry, name, kind, area):
    if kind == "storage" and entry.get("area", "both") not in ("both", area):
        return False
    return cookie_declarations.declares(entry, name, "name" if kind == "cookies" else "key")


def subject_of(thing):
    """How a finding names what it is about: "cookie _ga", "localStorage key x", "host hm.baidu.com"."""
    label = ("cookie" if isinstance(thing, Cookie) else f"{thing.area}Storage key" if isinstance(thing, StorageKey)
             else "host")
    return f"{label} {name_of(thing)}"


def name_of(thing):
    return thing.name if isinstance(thing, Cookie) else thing.key if isinstance(thing, StorageKey) else thing.host


def describe(thing):
    if isinstance(thing, Cookie):
        lasting = ("a session cookie" if thing.expires < 0
                   else f"expiring {datetime.fromtimestamp(thing.expires, UTC):%Y-%m-%d %H:%M} UTC")
        return f"{thing.name} on {thing.domain}{thing.path}, {lasting}" + (f", set by {thing.set_by}" if thing.set_by
                                                                             else "")
    if isinstance(thing, StorageKey):
        return f"{thing.area}Storage key {thing.key}"
    return f"{thing.host} ({thing.resource_type}" + (f", from {thing.initiator})" if thing.initiator else ")")


def declared_lifetime(purpose, cookie):
    """The declared lifetime, in seconds, of the declaration matching `cookie` (None: none, or not readable)."""
    for entry in purpose.get("cookies", []):
        if not isinstance(entry, str) and _matches(entry, cookie.name, "cookies", None) and "lifetime" in entry:
            return lifetime_seconds(entry["lifetime"]["en"])
    return None


def lifetime_seconds(text):
    """"13 months" as seconds (months of 31 days, years of 366: the generous reading); 0 for "session"."""
    if text.strip().lower() in ("session", "the session", "until the browser closes"):
        return 0
    match = LIFETIME.match(text)
    return int(match.group(1)) * UNITS[match.group(2).lower()] if match else None


def outlives(cookie, declared_seconds, at):
    """Why `cookie` outlives its declared lifetime, or None."""
    if declared_seconds is None:
        return None
    if cookie.expires < 0:
        return None  # a session cookie ends before any declared lifetime
    lasts = cookie.expires - at
    if lasts > declared_seconds + LIFETIME_SLACK_SECONDS:
        return (f"set to last {round(lasts / 86400)} days, declared "
                f"{'for the session' if declared_seconds == 0 else f'{round(declared_seconds / 86400)} days'}")
    return None
