"""The console's compliance scans (consent/admin/scans.py): queueing one from the form, refusals in both
languages, hostile input, the list and its chart, a scan's report and its JSON. No browser: the scan worker
never runs here; finished scans are stored by hand with a result document of consent/scanner/report.py's shape."""
import html
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from consent.accounts import operators
from consent.admin import scan_chart
from consent.storage import db
from consent.storage.operations import Scan
from tests.audit_support import import_other_site
from tests.conftest import PASSWORD, STORAGE_AGNOSTIC, OperatorActions, csrf_token

SCANS = "/admin/sites/shop/scans"
FINISHED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def result_document(scan_id, site_id="shop"):
    """A result as consent/scanner/report.py writes one: one page, three visits, a finding of each rule."""
    page = "https://shop.example/"
    at = FINISHED.timestamp()

    def visit(kind, cookies=(), storage=(), requests=()):
        return {"page": page, "kind": kind, "at": at, "cookies": list(cookies), "storage": list(storage),
                "requests": list(requests)}

    ga = {"name": "_ga", "domain": ".shop.example", "path": "/", "expires": at + 400 * 86400, "http_only": False,
          "secure": True, "same_site": "Lax", "third_party": False, "set_by": "script https://shop.example/ga.js"}
    session = {"name": "session", "domain": "shop.example", "path": "/", "expires": -1, "http_only": True,
               "secure": True, "same_site": "Strict", "third_party": False, "set_by": "response https://shop.example/"}
    ide = {"name": "IDE", "domain": ".doubleclick.net", "path": "/", "expires": at + 390 * 86400, "http_only": True,
           "secure": True, "same_site": "None", "third_party": True, "set_by": ""}
    baidu = {"host": "hm.baidu.com", "resource_type": "script", "initiator": "https://shop.example/"}
    return {
        "format": 1, "site": site_id, "scan": scan_id, "pages": [page],
        "counts": {"low": 1, "medium": 2, "high": 2},
        "findings": [
            {"rule": "before_consent", "severity": "high", "subject": "cookie _ga", "page": page,
             "evidence": "_ga on .shop.example/, present in the before visit", "purpose": None,
             "known": "Google Analytics, Analytics"},
            {"rule": "after_reject", "severity": "high", "subject": "host hm.baidu.com", "page": page,
             "evidence": "hm.baidu.com (script), contacted in the reject visit", "purpose": None,
             "known": "Baidu Tongji, Analytics"},
            {"rule": "undeclared", "severity": "medium", "subject": "cookie _ga", "page": page,
             "evidence": "_ga on .shop.example/, met in the before visit", "purpose": None,
             "known": "Google Analytics, Analytics"},
            {"rule": "outlives_declaration", "severity": "medium", "subject": "cookie session", "page": page,
             "evidence": "set to last 400 days, declared 30 days", "purpose": "necessary", "known": None},
            {"rule": "declared_not_seen", "severity": "low", "subject": "cookie cart", "page": "",
             "evidence": "declared, but met in no visit", "purpose": "necessary", "known": None},
        ],
        "visits": [visit("before", [ga, session], [{"area": "local", "key": "ga_queue"}], [baidu]),
                   visit("reject", [session], [], [baidu]), visit("accept", [ga, session, ide])],
        "problems": ["https://shop.example/gone: HTTP 404 in the before visit"],
        "refused": [{"host": "169.254.169.254", "reason": "169.254.169.254 resolves to 169.254.169.254, a "
                                                          "link-local address: a scan reaches public addresses only."}],
        "suggested": "# Declarations for what the scan met undeclared.\npurposes:\n- id: analytics\n  cookies:\n"
                     "  - name: _ga\n",
    }


def store_scan(app, site_id="shop", status="done", finished=FINISHED, counts=(2, 2, 1), **fields):
    """A scan row as the worker leaves one; a finished one with result_document() as its result."""
    with app.app_context(), db.write_transaction() as session:
        scan = Scan(**{"site_id": site_id, "status": status, "requested_by": "operator",
                       "requested_at": finished - timedelta(minutes=5), "urls": ["https://shop.example/"],
                       "max_pages": 10, "follow_links": False, "pages_done": 0, **fields})
        if status in ("done", "failed"):
            scan.started_at, scan.finished_at = finished - timedelta(seconds=95), finished
        session.add(scan)
        session.flush()
        if status == "done":
            scan.high, scan.medium, scan.low = counts
            scan.pages_done = 1
            scan.result = result_document(scan.id, site_id)
        return scan.id


def stored_scans(app):
    with app.app_context():
        return db.get_session().scalars(select(Scan).order_by(Scan.id)).all()


# --- The chart, a pure function ---------------------------------------------------------------------


LABELS = {"high": "High", "medium": "Medium", "low": "Low"}


def bars_of(svg):
    """Per bar, {severity: (y, height)} of its segments, read from the SVG as a browser would."""
    root = ElementTree.fromstring(str(svg))
    bars = {}
    for rect in root.iter(f"{SVG}rect"):
        if "data-severity" in rect.attrib:
            bars.setdefault(rect.get("x"), {})[rect.get("data-severity")] = (float(rect.get("y")),
                                                                             float(rect.get("height")))
    return list(bars.values())


def test_chart_scales_the_busiest_scan_to_the_plot_height_and_stacks_high_at_the_bottom():
    svg = scan_chart.chart([("11-01", {"high": 2, "medium": 3, "low": 1}),
                            ("11-08", {"high": 0, "medium": 6, "low": 6}),
                            ("11-15", {"high": 0, "medium": 0, "low": 0})], LABELS)
    baseline = scan_chart.TOP + scan_chart.PLOT_HEIGHT
    assert scan_chart.PLOT_HEIGHT == 120  # 12 findings at most: 10 pixels a finding
    first, second = bars_of(svg)  # a scan without findings draws no segment
    assert first == {"high": (baseline - 20, 20), "medium": (baseline - 50, 30), "low": (baseline - 60, 10)}
    assert second == {"medium": (baseline - 60, 60), "low": (baseline - 120, 60)}
    root = ElementTree.fromstring(str(svg))
    assert root.get("aria-hidden") == "true"
    assert [text.text for text in root.iter(f"{SVG}text")] == ["6", "11-01", "12", "11-08", "0", "11-15",
                                                               "High", "Medium", "Low"]
    assert "style" not in str(svg)  # the console's CSP refuses style attributes; fill is a presentation attribute


def test_chart_heights_are_rounded_and_labels_escaped():
    assert scan_chart.heights([{"high": 1, "medium": 0, "low": 6}]) == [{"high": 17.14, "medium": 0, "low": 102.86}]
    assert scan_chart.heights([{"high": 0, "medium": 0, "low": 0}]) == [{"high": 0, "medium": 0, "low": 0}]
    svg = str(scan_chart.chart([("<b>", {"high": 1, "medium": 0, "low": 0})], {**LABELS, "low": "Low & <i>"}))
    assert "&lt;b&gt;" in svg and "Low &amp; &lt;i&gt;" in svg and "<b>" not in svg


def test_no_scan_no_chart():
    assert scan_chart.chart([], LABELS) == ""


# --- Queueing from the form ----------------------------------------------------------------------------


def test_the_form_queues_a_scan_for_the_worker(app, client, operator):
    response = operator.submit(f"{SCANS}?lang=en", {"urls": "https://shop.example/\r\n\r\nhttps://shop.example/cart",
                                                    "pages": "5", "follow_links": "y"})
    assert response.status_code == 303 and response.headers["Location"].startswith(f"{SCANS}?")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Scan queued: the scan worker runs it (flask consent scan --worker)." in page
    assert "Queued" in page and "operator" in page
    [scan] = stored_scans(app)
    assert (scan.site_id, scan.status, scan.urls, scan.max_pages, scan.follow_links, scan.requested_by) == (
        "shop", "queued", ["https://shop.example/", "https://shop.example/cart"], 5, True, "operator")


@pytest.mark.parametrize(("language", "message"), [
    ("en", "A scan of this site is already queued or running: wait for it to finish."),
    ("zh-CN", "该网站已有排队或正在进行的扫描"),
])
def test_a_second_scan_is_refused_while_one_is_queued(app, operator, language, message):
    """The refusal comes from the database's one-active-scan index: tested on both backends."""
    fields = {"urls": "https://shop.example/", "pages": "3"}
    assert operator.submit(SCANS, fields).status_code == 303
    response = operator.submit(f"{SCANS}?lang={language}", fields)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert len(stored_scans(app)) == 1


@STORAGE_AGNOSTIC
@pytest.mark.parametrize(("language", "message"), [
    ("en", "https://evil.example/ is not on one of the site's allowed origins (https://shop.example)"),
    ("zh-CN", "https://evil.example/ 不在该网站允许的来源"),
])
def test_a_page_off_the_sites_origins_is_refused(app, operator, language, message):
    response = operator.submit(f"{SCANS}?lang={language}", {"urls": "https://shop.example/\nhttps://evil.example/",
                                                            "pages": "3"})
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422 and message in page
    assert "https://evil.example/</textarea>" in page  # the operator's text stays to correct
    assert stored_scans(app) == []


HOSTILE_FIELDS = [
    {"urls": "https://shop.example/" + "a" * 200_000},
    {"urls": "\n".join(f"https://shop.example/{number}" for number in range(1000))},
    {"urls": "not a url"},
    {"urls": "javascript:alert(1)"},
    {"urls": "https://user:pass@shop.example/"},
    {"urls": "https://shop.example/\x00"},
    {"urls": "https://shop.example/a b"},
    {"urls": "ftp://shop.example/"},
    {"urls": "//shop.example/"},
    {"urls": "   \n  "},
    {"urls": ""},
    {"pages": "0"},
    {"pages": "21"},
    {"pages": "-1"},
    {"pages": "abc"},
    {"pages": "99999999999999999999999"},
    {"pages": ""},
]


@STORAGE_AGNOSTIC
@pytest.mark.parametrize("changes", HOSTILE_FIELDS, ids=lambda changes: repr(changes)[:60])
def test_hostile_input_is_refused_and_stores_nothing(app, operator, changes):
    response = operator.submit(SCANS, {"urls": "https://shop.example/", "pages": "3", **changes})
    assert response.status_code == 422
    assert 'class="problems" role="alert"' in response.get_data(as_text=True)
    assert stored_scans(app) == []


@STORAGE_AGNOSTIC
def test_refusals_say_why(operator):
    def refusal(**changes):
        response = operator.submit(f"{SCANS}?lang=en", {"urls": "https://shop.example/", "pages": "3", **changes})
        return html.unescape(response.get_data(as_text=True))

    assert "A scan visits 1 to 20 pages." in refusal(pages="21")
    assert "A scan visits 1 to 20 pages." in refusal(urls="\n".join(f"https://shop.example/{n}" for n in range(21)))
    assert "names a user or password" in refusal(urls="https://user:pass@shop.example/")
    assert "javascript:alert(1) is not on one of the site's allowed origins" in refusal(urls="javascript:alert(1)")
    assert "Line 2 is not a web address" in refusal(urls="https://shop.example/\nhttps://shop.example/\x00")


@STORAGE_AGNOSTIC
def test_a_post_without_its_csrf_token_is_refused(app, client, operator):
    response = client.post(SCANS, data={"urls": "https://shop.example/", "pages": "3"})
    assert response.status_code == 400 and "This form has expired" in response.get_data(as_text=True)
    assert stored_scans(app) == []


@STORAGE_AGNOSTIC
def test_another_operators_site_is_403_and_an_unknown_site_404(app, client, operator):
    import_other_site(app)
    scan_id = store_scan(app, "other")
    with app.app_context(), db.write_transaction() as session:
        operators.set_password(session, "alice", PASSWORD, operators.OPERATOR, ["shop"])
    alice = app.test_client()
    OperatorActions(alice).login("alice")
    token = csrf_token(alice.get(SCANS).get_data(as_text=True))
    for path in ("/admin/sites/other/scans", f"/admin/sites/other/scans/{scan_id}",
                 f"/admin/sites/other/scans/{scan_id}.json"):
        assert alice.get(path).status_code == 403
    answer = alice.post("/admin/sites/other/scans", data={"csrf_token": token, "urls": "https://other.example/",
                                                          "pages": "3"})
    assert answer.status_code == 403
    assert [scan.site_id for scan in stored_scans(app)] == ["other"]
    assert client.get("/admin/sites/nope/scans").status_code == 404  # the owner: no such site
    assert client.post("/admin/sites/nope/scans", data={"urls": "x"}).status_code == 404
    assert client.get("/admin/sites/nope/scans/1").status_code == 404


# --- The list, the chart on the page, the report --------------------------------------------------------


@STORAGE_AGNOSTIC
def test_the_scans_page_lists_scans_newest_first_with_the_chart_and_its_table(app, client, operator):
    assert "No scan has finished yet" in client.get(f"{SCANS}?lang=en").get_data(as_text=True)
    store_scan(app, finished=FINISHED - timedelta(days=7), counts=(0, 1, 0))
    store_scan(app, status="failed", error="TimeoutError: the page never settled")
    done = store_scan(app)
    store_scan(app, status="running", pages_done=3, started_at=FINISHED)
    page = client.get(f"{SCANS}?lang=en").get_data(as_text=True)
    assert 'aria-hidden="true"' in page and "<caption>Findings per finished scan, oldest first</caption>" in page
    assert page.count("data-severity=") == 4  # (0, 1, 0) and (2, 2, 1)
    assert page.index("11-13") < page.index("11-20")  # the chart runs oldest first
    rows = page[page.index("<h2>Scans</h2>"):]
    assert [status for status in ("Running", "Done", "Failed") if status in rows] == ["Running", "Done", "Failed"]
    assert rows.index("Running") < rows.index("Done") < rows.index("Failed")  # newest first
    assert "3 of 10" in rows and "TimeoutError: the page never settled" in rows and "1 min 35 s" in rows
    assert f'href="/admin/sites/shop/scans/{done}?lang=en"' in rows
    assert " style=" not in page and "<script" not in page  # what the console's CSP would refuse
    zh = client.get(f"{SCANS}?lang=zh-CN").get_data(as_text=True)
    assert "扫描" in zh and "Running" not in zh and "1 分 35 秒" in zh


@STORAGE_AGNOSTIC
def test_the_site_page_shows_the_latest_scan(app, client, operator):
    assert "No scan yet." in client.get("/admin/sites/shop?lang=en").get_data(as_text=True)
    store_scan(app)
    page = client.get("/admin/sites/shop?lang=en").get_data(as_text=True)
    assert "Latest finished scan, 2026-11-20 09:30:00 UTC: 2 high, 2 medium, 1 low." in page
    assert 'href="/admin/sites/shop/scans?lang=en"' in page and "Latest scan, requested" not in page
    store_scan(app, status="queued")
    page = client.get("/admin/sites/shop?lang=zh-CN").get_data(as_text=True)
    assert "最近完成的扫描（2026-11-20 09:30:00 UTC）：高 2 项" in page
    assert "最近一次扫描（发起于 2026-11-20 09:25:00 UTC）：排队中。" in page


@STORAGE_AGNOSTIC
@pytest.mark.parametrize(("language", "labels"), [
    ("en", ["Before consent", "After Reject all", "Undeclared", "Outlives its declaration", "Declared, never met",
            "Before any choice", "After Accept all", "end of session", "third party", "first party",
            "Suggested declarations", "publish it as a new policy version", "Problems while visiting",
            "Addresses refused"]),
    ("zh-CN", ["同意之前", "全部拒绝之后", "未声明", "超出声明的有效期", "已声明但未遇到", "做出选择之前",
               "全部接受之后", "会话结束时", "第三方", "第一方", "建议的声明", "作为新的政策版本发布",
               "访问时遇到的问题", "被拒绝的地址"]),
])
def test_a_report_shows_findings_visits_and_the_suggestion(app, client, operator, language, labels):
    scan_id = store_scan(app)
    page = client.get(f"{SCANS}/{scan_id}?lang={language}").get_data(as_text=True)
    for label in labels:
        assert label in page, label
    # The data stays as stored, in English, whatever the page's language.
    for data in ("cookie _ga", "hm.baidu.com (script), contacted in the reject visit", "Google Analytics, Analytics",
                 "script https://shop.example/ga.js", "ga_queue", "https://shop.example/gone: HTTP 404",
                 "a link-local address: a scan reaches public addresses only.", "Strict"):
        assert data in page, data
    assert "<pre># Declarations for what the scan met undeclared.\npurposes:\n- id: analytics" in page
    assert f'href="/admin/sites/shop/scans/{scan_id}.json?lang={language}"' in page
    assert " style=" not in page and "<script" not in page


@STORAGE_AGNOSTIC
def test_a_report_of_a_scan_not_finished_says_so(app, client, operator):
    scan_id = store_scan(app, status="queued")
    page = client.get(f"{SCANS}/{scan_id}?lang=en").get_data(as_text=True)
    assert "This scan has no report" in page and "Queued" in page
    assert client.get(f"{SCANS}/{scan_id}.json").status_code == 404


@STORAGE_AGNOSTIC
def test_the_json_download_is_the_stored_result(app, client, operator):
    scan_id = store_scan(app)
    response = client.get(f"{SCANS}/{scan_id}.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == f'attachment; filename="scan-{scan_id}.json"'
    assert response.get_json() == result_document(scan_id)


@STORAGE_AGNOSTIC
def test_a_scan_of_another_site_is_not_found_under_this_sites_url(app, client, operator):
    import_other_site(app)
    other = store_scan(app, "other")
    for path in (f"{SCANS}/{other}", f"{SCANS}/{other}.json", f"{SCANS}/0", f"{SCANS}/99999999999999999999",
                 f"{SCANS}/2147483648.json"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/admin/sites/other/scans/{other}").status_code == 200  # the owner sees it where it is
