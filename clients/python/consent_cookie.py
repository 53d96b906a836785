"""Re-issue the consent widget's cookie from a site's own backend, so browsers that cap script-set cookies
keep the decision for its whole lifetime.

Safari (ITP) keeps a cookie that a page's script set for 7 days at most. The widget keeps the visitor's
decision in such a cookie, `consent_<site id>`; the decision itself lasts the site's
`consent_lifetime_months` (12 by default). The site's own server can set the same cookie again in its
HTTP answer, which that cap does not touch: `refreshed_cookie` returns the `Set-Cookie` header value for
that, or None when the cookie is not a live decision of the widget. (Safari still caps a cookie set by a
server whose IP address is far from the site's own, as behind a CNAME to another company: set it from the
server that answers for the page.)

It adds nothing, so it cannot make tracking easier than the widget already does: the value is sent back
byte for byte, only while the decision it holds is in force, and never for longer (Max-Age is the time
the decision has left). A value that is not such a decision is refused, forged ones included: not
percent-encoded JSON of an object with the policy version `v`, the choices `c`, the decision time `t` and
the expiry `e` (epoch milliseconds); an expiry not after its decision, already past, or more than 13
calendar months and a day after it (the most any site's setting allows); a decision time ahead of now;
arrays or objects nested over 16 deep; a value over 4096 bytes. Otherwise anyone could plant an
identifier in the cookie and have the site's server make it last.

Standard library only, Python 3.9 or newer: copy this one file into a site's backend, or import it. The
service's README, "Decision lifetime", has a Flask example; clients/node/consent_cookie.js is the same for
Node.js, checked against the same cases by the service's tests (tests/test_consent_cookie.py).
"""
import calendar
import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote_to_bytes

__all__ = ["cookie_name", "refreshed_cookie", "remaining_seconds"]

MAX_VALUE_BYTES = 4096  # what browsers keep of one cookie
MAX_LIFETIME_MONTHS = 13  # the longest lifetime a site may set
LIFETIME_SLACK = timedelta(days=1)  # the widget computes expiries on the visitor's device
CLOCK_SKEW = timedelta(days=1)  # how far ahead of ours a device's clock may be
MAX_DEPTH = 16  # of arrays and objects in one another: the widget's own nest two deep
MAX_SAFE_INTEGER = 2**53 - 1  # the largest whole number the widget's JavaScript keeps exactly
UTC = timezone.utc  # noqa: UP017 - datetime.UTC is Python 3.11's; a site's backend may run an older one
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What encodeURIComponent writes: these characters and %XX escapes. Nothing else (no ";", no line break)
# may reach the header, so a value cannot add attributes or headers of its own.
ENCODED_VALUE = re.compile(r"\A(?:[A-Za-z0-9!'()*._~-]|%[0-9A-Fa-f]{2})+\Z")
# A site's cookie_domain, as the service accepts one: lower case, two labels or more, no port, no leading dot.
DOMAIN = re.compile(r"\A(?=.{4,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?\Z")


def cookie_name(site_id):
    """The widget's cookie for a site: consent_ and the site id, less anything but a-z, 0-9 and -."""
    name = "consent_" + re.sub(r"[^a-z0-9-]", "", str(site_id))
    if name == "consent_":
        raise ValueError(f"{site_id!r} is no site id: use the one in the widget's data-site attribute.")
    return name


def add_months(moment, months):
    """`moment` plus `months` calendar months in UTC, on the month's last day where it is shorter."""
    month_count = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(month_count, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _milliseconds(value):
    """A time in epoch milliseconds as the widget writes it (a whole number, 0 to 2**53 - 1), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not value.is_integer():  # also refuses inf and nan
        return None
    value = int(value)
    return value if 0 <= value <= MAX_SAFE_INTEGER else None


def _not_json(constant):
    raise ValueError(f"{constant} is not JSON")


def _depth(value):
    """How many arrays and objects deep `value` nests (without recursion: it may nest deep)."""
    deepest, level = 0, [(value, 1)]
    while level:
        item, depth = level.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            level.extend((inner, depth + 1) for inner in (item.values() if isinstance(item, dict) else item))
    return deepest


def _decision(cookie_value):
    """The widget's decision in `cookie_value` (the raw cookie value, still percent-encoded), or None."""
    if not isinstance(cookie_value, str) or len(cookie_value.encode("utf-8")) > MAX_VALUE_BYTES:
        return None
    if not ENCODED_VALUE.match(cookie_value):
        return None
    try:
        # Read as the widget reads it (decodeURIComponent, JSON.parse): UTF-8 only, no NaN or Infinity,
        # and of a key given twice the last one counts.
        decision = json.loads(unquote_to_bytes(cookie_value).decode("utf-8"), parse_constant=_not_json)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    if not isinstance(decision, dict) or _depth(decision) > MAX_DEPTH:
        return None
    choices = decision.get("c")
    if not isinstance(decision.get("v"), str) or not decision["v"] or not isinstance(choices, dict):
        return None
    if not all(isinstance(given, bool) for given in choices.values()):
        return None
    return decision


def remaining_seconds(cookie_value, now=None):
    """How many whole seconds the decision in `cookie_value` has left at `now` (an aware datetime, default:
    the current time); None when the value is not a live decision of the widget (see the module's doc)."""
    now = now or datetime.now(UTC)
    decision = _decision(cookie_value)
    if decision is None:
        return None
    decided_ms, expires_ms = _milliseconds(decision.get("t")), _milliseconds(decision.get("e"))
    if decided_ms is None or expires_ms is None or expires_ms <= decided_ms:
        return None
    now_ms = (now - EPOCH) // timedelta(milliseconds=1)
    if decided_ms > now_ms + CLOCK_SKEW // timedelta(milliseconds=1):
        return None  # a decision "made" in the future could be given any expiry
    decided_at = EPOCH + timedelta(milliseconds=decided_ms)
    longest = add_months(decided_at, MAX_LIFETIME_MONTHS) + LIFETIME_SLACK
    if EPOCH + timedelta(milliseconds=expires_ms) > longest:
        return None
    left = (expires_ms - now_ms) // 1000
    return left if left >= 1 else None


def refreshed_cookie(cookie_value, site_id, now=None, domain=None, secure=True):
    """The `Set-Cookie` header value that sets the widget's cookie of `site_id` again, from the server, with
    the same value and for the time its decision has left; None when `cookie_value` is not a live decision.

    `cookie_value` is the cookie exactly as the browser sent it (still percent-encoded: Flask and Django
    hand it over so; Express's cookie-parser decodes it, so read the Cookie header there). `domain` is the
    site's `cookie_domain`, if it has one, so that the cookie replaces the widget's own rather than standing
    beside it. The cookie is not HttpOnly: the widget reads it.
    """
    name = cookie_name(site_id)
    if domain is not None and not DOMAIN.match(domain):
        raise ValueError(f"{domain!r} is no cookie domain: lower case, no port, no leading dot.")
    left = remaining_seconds(cookie_value, now)
    if left is None:
        return None
    attributes = [f"{name}={cookie_value}", f"Max-Age={left}", "Path=/"]
    if domain is not None:
        attributes.append(f"Domain={domain}")
    attributes.append("SameSite=Lax")
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)
