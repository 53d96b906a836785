"""Our own pages under their strict Content-Security-Policy: the widget still works, nothing is blocked."""

WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) =>
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`));
"""


def test_demo_page_runs_the_widget_under_its_policy(page, service):
    page.add_init_script(WATCH_VIOLATIONS)
    response = page.goto(service.url + "/?site=shop&lang=en")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Reject all").wait_for()
    assert page.evaluate("window.__violations") == []
