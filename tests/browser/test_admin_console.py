"""An operator onboards a site in the console; a page on another origin then shows its banner."""
from playwright.sync_api import expect

from consent.accounts import operators
from consent.storage import db
from tests.browser.conftest import BackgroundServer, HostSite, host_html
from tests.test_admin import PASSWORD, new_site_fields


def sign_in(app, page, service):
    """Create the operator and sign in to the console in English."""
    with app.app_context(), db.write_transaction() as session:
        operators.set_password(session, "operator", PASSWORD)
    page.goto(service.url + "/admin/login?lang=en")
    page.get_by_label("User name").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_site_created_in_console_shows_its_banner_cross_origin(app, page, service):
    host = HostSite()
    with BackgroundServer(host) as host_server:
        sign_in(app, page, service)
        page.get_by_role("link", name="Create a site").click()
        for more in page.locator("details.more > summary").all():  # unfold what the form folds
            more.click()
        for name, value in new_site_fields(origin=host_server.url).items():
            if value == "y":
                page.locator(f'[name="{name}"]').check()
            elif name.endswith("-tags"):
                page.locator(f'[name="{name}"][value="{value}"]').check()
            elif name.endswith("default_language") or name.endswith("-legal_basis"):
                page.locator(f'[name="{name}"]').select_option(value)
            else:
                page.locator(f'[name="{name}"]').fill(value)
        page.get_by_role("button", name="Create site").click()
        snippet = page.get_by_role("textbox", name="Embed snippet").input_value()
        assert 'data-site="bakery"' in snippet

        for lang, title in (("zh-CN", "面包店的隐私选择"), ("en", "Bakery privacy choices")):
            host.page(f"/{lang}", host_html(service, lang=lang, site="bakery"))
            page.goto(f"{host_server.url}/{lang}")
            assert page.get_by_role("dialog").get_by_role("heading").first.inner_text() == title


def test_console_preview_renders_the_banner_without_recording(app, page, service, consent):
    sign_in(app, page, service)
    csp_messages, widget_posts = [], []
    page.on("console", lambda message: "Content Security Policy" in message.text and csp_messages.append(message.text))
    page.on("request", lambda request: request.method == "POST" and "/api/v1/" in request.url
            and widget_posts.append(request.url))
    page.goto(service.url + "/admin/sites/shop/preview?lang=en")
    english = page.frame_locator('iframe[title="English"]')
    assert english.get_by_role("dialog").get_by_role("heading").first.inner_text() == "Your privacy choices"
    chinese = page.frame_locator('iframe[title="中文"]')
    assert chinese.get_by_role("dialog").get_by_role("heading").first.inner_text() == "您的隐私选择"
    english.get_by_role("dialog").get_by_role("button", name="Reject all").click()
    # The choice applies in the frame (device mode) and goes nowhere: no POST, no event.
    expect(english.get_by_role("button", name="Privacy settings")).to_be_visible()
    english.get_by_role("button", name="Privacy settings").click()
    expect(english.get_by_role("dialog", name="Privacy preferences")).to_be_visible()
    assert widget_posts == [] and consent.stored_events() == []
    assert csp_messages == []  # nothing inline for the page's CSP to block

    page.reload()  # the preview clears its cookie: the banner shows again
    english = page.frame_locator('iframe[title="English"]')
    expect(english.get_by_role("dialog").get_by_role("button", name="Reject all")).to_be_visible()
    assert widget_posts == [] and csp_messages == []


def test_publishing_a_version_with_the_new_fields_in_the_console(app, page, service, client):
    """Folded fields unfold with a click, vocabulary choices are ticked, and nothing trips the page's CSP."""
    sign_in(app, page, service)
    csp_messages = []
    page.on("console", lambda message: "Content Security Policy" in message.text and csp_messages.append(message.text))
    page.goto(service.url + "/admin/sites/shop/publish?lang=en")
    page.locator('[name="version"]').fill("v2")
    page.locator('[name="effective_date"]').fill("2027-01-15")
    analytics = page.locator("fieldset.purpose").nth(1)  # shop.yaml's second purpose
    assert analytics.locator('[name="purposes-1-id"]').input_value() == "analytics"
    analytics.get_by_label("Research and product improvement").check()
    retention = analytics.locator('[name="purposes-1-retention_en"]')
    expect(retention).to_be_hidden()
    analytics.locator("summary").click()
    analytics.get_by_label("Device information").check()
    retention.fill("13 months")
    analytics.locator('[name="purposes-1-retention_zh"]').fill("13 个月")
    legal_duty = "Necessary to fulfil a legal duty or obligation"
    page.locator('[name="purposes-0-legal_basis"]').select_option(label=legal_duty)
    page.get_by_role("button", name="Publish this version").click()
    expect(page.get_by_text("New policy version published.")).to_be_visible()
    config = client.get("/api/v1/sites/shop/config?lang=en").get_json()
    purposes = {purpose["id"]: purpose for purpose in config["purposes"]}
    assert config["policy"]["version"] == "v2"
    assert purposes["analytics"]["tags"] == ["cookie", "research"] and purposes["analytics"]["retention"] == "13 months"
    assert purposes["necessary"]["basis"] == "legal_obligation"
    assert csp_messages == []
