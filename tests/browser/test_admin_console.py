"""An operator onboards a site in the console; a page on another origin then shows its banner."""
from consent import admin_users, db
from tests.browser.conftest import BackgroundServer, HostSite, host_html
from tests.test_admin import PASSWORD, new_site_fields


def test_site_created_in_console_shows_its_banner_cross_origin(app, page, service):
    with app.app_context(), db.write_transaction() as session:
        admin_users.set_password(session, "operator", PASSWORD)
    host = HostSite()
    with BackgroundServer(host) as host_server:
        page.goto(service.url + "/admin/login?lang=en")
        page.get_by_label("User name").fill("operator")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Create a site").click()
        for name, value in new_site_fields(origin=host_server.url).items():
            if value == "y":
                page.locator(f'[name="{name}"]').check()
            elif name.endswith("default_language") or name.endswith("-kind"):
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
    with app.app_context(), db.write_transaction() as session:
        admin_users.set_password(session, "operator", PASSWORD)
    page.goto(service.url + "/admin/login?lang=en")
    page.get_by_label("User name").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(service.url + "/admin/sites/shop/preview?lang=en")
    english = page.frame_locator('iframe[title="English"]')
    assert english.get_by_role("dialog").get_by_role("heading").first.inner_text() == "Your privacy choices"
    chinese = page.frame_locator('iframe[title="中文"]')
    assert chinese.get_by_role("dialog").get_by_role("heading").first.inner_text() == "您的隐私选择"
    english.get_by_role("dialog").get_by_role("button", name="Reject all").click()
    assert consent.stored_events() == []
