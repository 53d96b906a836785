"""The Statistics page in a real browser (issue 17): its charts render in both languages under the console's CSP,
with no console error and no request to another host."""
from urllib.parse import urlsplit

from consent.stats import rollup
from tests.browser.conftest import SQLITE_ONLY
from tests.browser.test_admin_console import sign_in
from tests.test_stats import OPTIONAL, decide, utc

pytestmark = SQLITE_ONLY


def test_the_charts_render_in_both_languages_without_errors_or_csp_violations(app, page, service, consent, clock):
    for hour in range(12):
        decide(consent, clock, utc(20, hour), OPTIONAL if hour % 3 else ())
    with app.app_context():
        rollup.roll_up_all()
    problems, hosts = [], set()
    page.on("console", lambda message: message.type in ("error", "warning")
            and not message.location["url"].endswith("/favicon.ico")  # the browser's own ask, not the page's
            and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    sign_in(app, page, service)
    page.add_init_script("document.addEventListener('securitypolicyviolation', "
                         "(event) => console.error('CSP ' + event.violatedDirective))")
    for language, heading, purpose in (("en", "Statistics", "Analytics"), ("zh-CN", "统计", "访问统计")):
        page.goto(f"{service.url}/admin/sites/shop/stats?from=2026-11-20&to=2026-11-20&lang={language}")
        assert page.get_by_role("heading", level=1).inner_text() == heading
        charts = page.locator("svg.chart")
        assert charts.count() == 2 and all(chart.bounding_box()["height"] > 20 for chart in charts.all())
        assert page.get_by_role("row", name=purpose).count() == 1  # the table beside the chart, for screen readers
    assert problems == [] and hosts == {urlsplit(service.url).netloc}
