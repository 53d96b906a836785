"""What a purpose declares it keeps on the visitor's device: cookies, and localStorage or sessionStorage keys.

The widget clears them on "Reject all" and when the purpose is withdrawn, and the preference centre lists
them. A declaration is stored as the operator wrote it (a plain cookie name, or an object); the defaults
(path "/", first party, both storage areas) are applied only here, where the widget's config is built, so
an export gives back the operator's own shape. The input shapes are in consent/schemas.py.
"""
import re
from urllib.parse import urlsplit

# RFC 6265 4.1.1: a cookie name is an RFC 2616 token, visible ASCII but the separators ()<>@,;:\"/[]?={}.
# "*" is a token character too, but here it makes a pattern, so an exact name may not hold one (a name
# written with one was almost certainly meant as a pattern).
_NAME_CHARACTER = r"[!#$%&'+\-.^_`|~0-9A-Za-z]"
COOKIE_NAME = re.compile(rf"\A{_NAME_CHARACTER}{{1,100}}\Z")
# A glob where only "*" is special (any run of characters, none included). It needs one other character:
# "*" alone would clear every cookie of the site, the visitor's sign-in included.
COOKIE_PATTERN = re.compile(rf"\A(?=.*\*)(?=.*[^*])(?:{_NAME_CHARACTER}|\*){{2,100}}\Z")
# Storage keys are any text; no control characters or lone surrogates, and "*" only in patterns.
STORAGE_KEY = re.compile(r"\A[^\x00-\x1f\x7f\ud800-\udfff*]{1,200}\Z")
STORAGE_PATTERN = re.compile(r"\A(?=.*\*)(?=.*[^*])[^\x00-\x1f\x7f\ud800-\udfff]{2,200}\Z")
# Visible ASCII but ";", which would end the Path attribute and start another one.
COOKIE_PATH = re.compile(r"\A/[\x21-\x3a\x3c-\x7e]{0,199}\Z")
STORAGE_AREAS = ("local", "session", "both")
PARTIES = ("first", "third")

# The widget's bytes are budgeted (tests/test_widget_delivery.py: script and demo config within 8 KB, brotli),
# so each declaration goes out as an object of one-letter keys, in the config's one language, with every
# default left out:
#   cookies[]: n exact name | p pattern ("*" = any run of characters); d domain (only if declared: tried
#              besides the host, .host and the registrable domain); h path (only if not "/"); t "3" for a
#              third party's cookie (first party: absent); l lifetime text; x description (each only if declared)
#   storage[]: n exact key | p pattern; a area: "l" localStorage, "s" sessionStorage, "b" both (always sent);
#              x description (only if declared)
# A purpose without declarations has no "cookies" or "storage" key at all.
AREA_CODES = {"local": "l", "session": "s", "both": "b"}


def own_cookie(site_id):
    """The widget's own cookie, its decision on the device (static/consent.js: "consent_" and the site id, whose
    characters are already the [a-z0-9-] the widget keeps); its offline queue is this and "_pending"."""
    return f"consent_{site_id}"


def for_widget(purpose, language):
    """The purpose's declarations as the widget is sent them: {"cookies": [...], "storage": [...]}, each if any."""
    cookies = [_widget_cookie(entry, language) for entry in purpose.get("cookies", []) if _clearable(entry)]
    storage = [_widget_storage(entry, language) for entry in purpose.get("storage", [])]
    return {**({"cookies": cookies} if cookies else {}), **({"storage": storage} if storage else {})}


def _clearable(entry):
    # Plain names were stored unchecked before the widget cleared them: one that is no cookie name (it
    # could smuggle "; Domain=..." into document.cookie) stays listed in the policy but is never sent.
    return not isinstance(entry, str) or bool(COOKIE_NAME.fullmatch(entry))


def _widget_cookie(entry, language):
    if isinstance(entry, str):
        return {"n": entry}
    cookie = {"n": entry["name"]} if "name" in entry else {"p": entry["pattern"]}
    if "domain" in entry:
        cookie["d"] = entry["domain"]
    if entry.get("path", "/") != "/":
        cookie["h"] = entry["path"]
    if entry.get("party") == "third":
        cookie["t"] = "3"
    _localized(cookie, "l", entry.get("lifetime"), language)
    _localized(cookie, "x", entry.get("description"), language)
    return cookie


def _widget_storage(entry, language):
    item = {"n": entry["key"]} if "key" in entry else {"p": entry["pattern"]}
    item["a"] = AREA_CODES[entry.get("area", "both")]
    _localized(item, "x", entry.get("description"), language)
    return item


def _localized(target, key, text, language):
    if text:
        target[key] = text[language]


# --- Checks across purposes (SiteConfigSchema runs them once every field is valid) ---------------------


def declared_name(cookie):
    """A declared cookie's name, or its pattern: how a receipt lists it."""
    return cookie if isinstance(cookie, str) else cookie.get("name") or cookie["pattern"]


def declares(entry, name, exact_key):
    """Whether a declaration (a plain name, or an object with `exact_key` or a pattern) covers `name`."""
    _field, exact, pattern = _parts(entry, exact_key)
    return exact == name if pattern is None else glob_matches(pattern, name)


def glob_matches(pattern, name):
    """`pattern` (only "*" special) matches the whole of `name`."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), name, flags=re.S) is not None


def declaration_problems(config):
    """What the widget must not do as declared, as an errors map in SiteConfigSchema's shape ({} if none).

    - A first-party cookie's domain must be an allowed origin's host or a domain above one: the widget
      can reach no other (a partner's domain is written `party: third`).
    - An optional purpose must not name the widget's own cookie or queue (clearing would forget the
      visitor's decision), nor a cookie or key a required purpose declares (clearing would sign people out).
    """
    hosts = [urlsplit(origin).hostname or "" for origin in config["allowed_origins"]]
    widget_own = {"cookies": own_cookie(config["id"]), "storage": f"{own_cookie(config['id'])}_pending"}
    required = {kind: _exact_names(config["purposes"], kind) for kind in ("cookies", "storage")}
    problems = {}
    for index, purpose in enumerate(config["purposes"]):
        for kind in ("cookies", "storage"):
            for position, entry in enumerate(purpose.get(kind, [])):
                problem = _domain_problem(entry, hosts) if kind == "cookies" else None
                if not purpose["required"]:
                    problem = problem or _clearing_problem(entry, kind, widget_own[kind], required[kind])
                if problem:
                    problems.setdefault(index, {}).setdefault(kind, {})[position] = problem
    return {"purposes": problems} if problems else {}


def _exact_names(purposes, kind):
    exact_key = "name" if kind == "cookies" else "key"
    names = set()
    for purpose in purposes:
        if purpose["required"]:
            names.update(entry if isinstance(entry, str) else entry.get(exact_key) for entry in purpose.get(kind, []))
    return names - {None}


def _domain_problem(entry, hosts):
    if isinstance(entry, str) or "domain" not in entry or entry.get("party") == "third":
        return None
    domain = entry["domain"].removeprefix(".")
    if any(host == domain or host.endswith("." + domain) for host in hosts):
        return None
    return {"domain": ["A first-party cookie's domain is the host of an allowed origin or a domain above one; "
                       "a cookie on a partner's domain is declared with party: third."]}


def _clearing_problem(entry, kind, widget_own, required_names):
    exact_key = "name" if kind == "cookies" else "key"
    field = _parts(entry, exact_key)[0]
    for kept in (widget_own, *sorted(required_names)):
        if declares(entry, kept, exact_key):
            why = ("the visitor's consent decision, which the widget keeps" if kept == widget_own
                   else "which a required purpose declares")
            message = f"Withdrawing this purpose would clear {kept!r}, {why}."
            return [message] if field is None else {field: [message]}
    return None


def _parts(entry, exact_key):
    """(the field to point at, the exact name or None, the pattern or None); plain strings have no field."""
    if isinstance(entry, str):
        return None, entry, None
    if exact_key in entry:
        return exact_key, entry[exact_key], None
    return "pattern", None, entry["pattern"]
