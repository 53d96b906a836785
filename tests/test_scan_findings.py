"""The scanner's rules (consent/scanner/findings.py) over what three visits of a page met: each rule with a
case that breaks it and its evidence, and a site that behaves, which gives no finding at all."""
from consent.scanner import findings as scan
from consent.scanner.known import Known, KnownCookies

AT = 1_800_000_000.0  # when each visit ended
DAY = 86400
SHOP = [
    {"id": "necessary", "required": True, "cookies": ["session"]},
    {"id": "analytics", "required": False, "tracking": True, "cookies": [
        {"pattern": "_stats*", "lifetime": {"zh-CN": "13 个月", "en": "13 months"}},
        {"name": "_ga", "lifetime": {"zh-CN": "2 年", "en": "2 years"}}]},
    {"id": "advertising", "required": False, "cookies": [
        {"name": "IDE", "domain": ".ads.example", "party": "third"}]},
]


def known_lists():
    def entry(name, platform, category, host=""):
        return Known(platform, category, name, False, "", host, "", "", "", "", "test list")
    return KnownCookies([entry("_ga", "Google Analytics", "Analytics"),
                         entry("", "Baidu Tongji", "Analytics", host="hm.baidu.com"),
                         entry("", "jsDelivr", "Functional", host="cdn.jsdelivr.net")])


def visit(kind, cookies=(), storage=(), requests=()):
    return scan.Visit("https://shop.example/", kind, AT, list(cookies), list(storage), list(requests))


def cookie(name, lasting_days=None, domain="shop.example", **more):
    return scan.Cookie(name, domain, expires=-1 if lasting_days is None else AT + lasting_days * DAY, **more)


def found(visits, purposes=SHOP):
    return [(item.rule, item.severity, item.subject) for item in
            scan.findings(purposes, visits, "consent_shop", known_lists(), "consent.example")]


WIDGET = cookie("consent_shop", 365)
BEHAVING = [
    visit("before", [cookie("session"), WIDGET], requests=[scan.Request("consent.example", "script")]),
    visit("reject", [cookie("session"), WIDGET], [scan.StorageKey("local", "consent_shop_pending")]),
    visit("accept", [cookie("session"), WIDGET, cookie("_ga", 700), cookie("_stats_1", 390),
                     cookie("IDE", 390, domain=".ads.example", third_party=True)],
          requests=[scan.Request("ads.example", "image")]),
]


def test_a_site_that_behaves_gives_no_finding():
    assert found(BEHAVING) == []


def test_a_cookie_set_before_any_choice_by_a_first_party_script():
    visits = [visit("before", [cookie("session"), cookie("_ga", 700, set_by="https://shop.example/stats.js")]),
              *BEHAVING[1:]]
    [finding] = scan.findings(SHOP, visits, "consent_shop", known_lists(), "consent.example")
    assert (finding.rule, finding.severity, finding.subject, finding.purpose) == (
        "before_consent", "high", "cookie _ga", "analytics")
    assert "set by https://shop.example/stats.js" in finding.evidence and "before visit" in finding.evidence
    assert finding.known == "Google Analytics, Analytics"


def test_a_tracker_contacted_before_consent_or_after_reject():
    visits = [visit("before", [cookie("session")], requests=[scan.Request("hm.baidu.com", "script", "https://shop.example/")]),
              visit("reject", [cookie("session")], requests=[scan.Request("cdn.jsdelivr.net", "script")]),
              BEHAVING[2]]
    assert found(visits) == [("before_consent", "high", "host hm.baidu.com"),
                             ("after_reject", "medium", "host cdn.jsdelivr.net")]


def test_a_cookie_left_after_reject_all():
    visits = [BEHAVING[0], visit("reject", [cookie("session"), cookie("_stats_9", 30)]), BEHAVING[2]]
    assert found(visits) == [("after_reject", "high", "cookie _stats_9")]


def test_an_undeclared_cookie_and_storage_key():
    visits = [*BEHAVING[:2], visit("accept", [*BEHAVING[2].cookies, cookie("mystery", 10)],
                                   [scan.StorageKey("session", "tracker_state")])]
    assert found(visits) == [("undeclared", "medium", "cookie mystery"),
                             ("undeclared", "medium", "sessionStorage key tracker_state")]


def test_a_cookie_that_outlives_its_declared_lifetime():
    visits = [*BEHAVING[:2], visit("accept", [cookie("session"), WIDGET, cookie("_ga", 700), cookie("_stats_1", 800),
                                             cookie("IDE", 390, domain=".ads.example", third_party=True)])]
    [finding] = scan.findings(SHOP, visits, "consent_shop", known_lists(), "consent.example")
    assert (finding.rule, finding.subject) == ("outlives_declaration", "cookie _stats_1")
    assert finding.evidence == "set to last 800 days, declared 403 days"


def test_a_declared_cookie_never_met():
    visits = [*BEHAVING[:2], visit("accept", [cookie("session"), WIDGET, cookie("_stats_1", 390),
                                             cookie("IDE", 390, domain=".ads.example", third_party=True)])]
    assert found(visits) == [("declared_not_seen", "low", "cookie _ga")]


def test_findings_come_most_severe_first_and_once_each():
    visits = [visit("before", [cookie("mystery", 5)]), visit("reject", [cookie("mystery", 5)]),
              visit("accept", [cookie("mystery", 5)])]
    assert found(visits, [SHOP[0]]) == [("after_reject", "high", "cookie mystery"),
                                        ("before_consent", "high", "cookie mystery"),
                                        ("undeclared", "medium", "cookie mystery"),
                                        ("declared_not_seen", "low", "cookie session")]


def test_declared_lifetimes_are_read_as_written():
    assert scan.lifetime_seconds("13 months") == 13 * 31 * DAY
    assert scan.lifetime_seconds(" 1 Year ") == 366 * DAY and scan.lifetime_seconds("session") == 0
    assert scan.lifetime_seconds("about a year") is None and scan.lifetime_seconds("99999 days") is None
    assert scan.outlives(cookie("x"), 0, AT) is None  # a session cookie never outlives anything
    assert scan.outlives(cookie("x", 2), 0, AT) == "set to last 2 days, declared for the session"


def test_the_suggested_declarations_name_each_undeclared_thing_once_however_many_pages_met_it():
    from consent.scanner import report

    pages = [scan.Visit(f"https://shop.example/{page}", "accept", AT, [cookie("_ga", 30), cookie("fx", None)],
                        [scan.StorageKey("local", "k"), scan.StorageKey("session", "k")]) for page in ("a", "b")]
    lists, necessary_only = known_lists(), [{**SHOP[0], "kind": "cookie"}]
    suggested = report.suggested_declarations(
        necessary_only, scan.findings(necessary_only, pages, "consent_shop", lists, "consent.example"), pages, lists)
    assert suggested.count("name: _ga") == 1 and suggested.count("name: fx") == 1
    assert suggested.count("key: k") == 1 and "area: both" in suggested  # met in both areas: one declaration
