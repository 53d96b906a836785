"""A scan's result document, kept with the scan and printed by `flask consent scan --json`, and the
declarations it suggests for what the scan met undeclared.

The suggestion is a fragment of the site's configuration file: the `cookies` and `storage` lists of the
purposes each thing most likely serves, to review and paste into the file, then publish as a new policy
version. Declarations belong to the versioned policy (issue 14): they are what the visitor is told a purpose
keeps on their device, and a receipt pins the version they were shown, so adding one is a change of policy.
"""
from dataclasses import asdict

import yaml

from consent.scanner.findings import SEVERITIES, Cookie, name_of, subject_of
from consent.sites import purposes

FORMAT = 1
# What a list's category most likely means among a site's purposes: the first purpose with one of these tags.
CATEGORY_TAGS = {
    "Analytics": ("analytics", "research"),
    "Marketing": ("advertising", "marketing"),
    "Personalization": ("personalization", "profiling"),
    "Functional": ("personalization",),
    "Necessary": ("security", "payment"),
    "Security": ("security",),
}
CATEGORY_ZH = {"Analytics": "统计分析", "Marketing": "广告营销", "Personalization": "个性化", "Functional": "功能",
               "Necessary": "必要", "Security": "安全"}
UNASSIGNED = "choose-a-purpose"


def document(scan, site_purposes, pages, visits, found, problems, refused, lists):
    """Everything a scan found, as JSON-ready data (FORMAT says its shape, README "Scanning your site")."""
    return {
        "format": FORMAT,
        "site": scan.site_id,
        "scan": scan.id,
        "pages": pages,
        "counts": {severity: sum(finding.severity == severity for finding in found) for severity in SEVERITIES},
        "findings": [asdict(finding) for finding in found],
        "visits": [{"page": visit.page, "kind": visit.kind, "at": visit.at,
                    "cookies": [asdict(cookie) for cookie in visit.cookies],
                    "storage": [asdict(entry) for entry in visit.storage],
                    "requests": [asdict(request) for request in visit.requests]} for visit in visits],
        "problems": problems,
        "refused": [{"host": host, "reason": reason} for host, reason in dict(refused).items()],
        "suggested": suggested_declarations(site_purposes, found, visits, lists),
    }


def at_or_above(result, severity):
    """How many of a result's findings are at least as severe as `severity`."""
    floor = SEVERITIES.index(severity)
    return sum(count for name, count in result["counts"].items() if SEVERITIES.index(name) >= floor)


def suggested_declarations(site_purposes, found, visits, lists):
    """A YAML fragment declaring every cookie and storage key found undeclared, or "" when there is none."""
    met = {}  # each thing's subject: the thing as first met, and when
    for visit in visits:
        for thing in (*visit.cookies, *visit.storage):
            met.setdefault(subject_of(thing), (thing, visit.at))
    by_purpose = {}
    # Each once, however many pages it was met undeclared on.
    for subject in dict.fromkeys(finding.subject for finding in found if finding.rule == "undeclared"):
        thing, at = met[subject]
        entry = lists.cookie(name_of(thing))
        purpose_id = _purpose_for(site_purposes, entry.category if entry else None)
        declarations = by_purpose.setdefault(purpose_id, {"cookies": [], "storage": {}})
        if isinstance(thing, Cookie):
            declarations["cookies"].append(_cookie(thing, at, entry))
        elif thing.key in declarations["storage"]:  # the same key in both areas: one declaration for both
            declarations["storage"][thing.key]["area"] = "both"
        else:
            declarations["storage"][thing.key] = {"key": thing.key, "area": thing.area, **_description(entry)}
    if not by_purpose:
        return ""
    fragment = [{"id": purpose_id, **({"cookies": declared["cookies"]} if declared["cookies"] else {}),
                 **({"storage": list(declared["storage"].values())} if declared["storage"] else {})}
                for purpose_id, declared in by_purpose.items()]
    return ("# Declarations for what the scan met undeclared. Review each one, merge it into the purpose of the\n"
            "# same id in your site file, and publish a new policy version; describe what the lists did not know.\n"
            + yaml.safe_dump({"purposes": fragment}, allow_unicode=True, sort_keys=False, width=120))


def _purpose_for(site_purposes, category):
    for tag in CATEGORY_TAGS.get(category, ()):
        for purpose in site_purposes:
            if tag in purposes.tags(purpose) or purpose["id"] == tag:
                return purpose["id"]
    if category in ("Necessary", "Security"):
        necessary = [purpose for purpose in site_purposes if not purposes.is_consent(purpose)]
        if necessary:
            return necessary[0]["id"]
    return UNASSIGNED


def _cookie(cookie, at, entry):
    days = round((cookie.expires - at) / 86400) if cookie.expires >= 0 else None
    lifetime = ({"zh-CN": "会话期间", "en": "Session"} if days is None
                else {"zh-CN": f"{days} 天", "en": f"{days} day{'s' if days != 1 else ''}"})
    declaration = {"name": cookie.name}
    if cookie.third_party:
        declaration.update(domain=cookie.domain, party="third")
    if cookie.path != "/":
        declaration["path"] = cookie.path
    return {**declaration, "lifetime": lifetime, **_description(entry)}


def _description(entry):
    if entry is None:
        return {"description": {"zh-CN": "", "en": ""}}
    return {"description": {"zh-CN": f"{entry.platform}（{CATEGORY_ZH.get(entry.category, entry.category)}）",
                            "en": f"{entry.platform} ({entry.category})"}}
