"""Embeds held back: players and maps stay empty behind a placeholder until their purpose is granted.

The page embeds the real providers' addresses (the README's snippets); Chromium's requests to them are
answered here and counted, so "no request until granted" is measured, not assumed.
"""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SQLITE_ONLY, banner, open_host, recorded, recording
from tests.conftest import import_site, load_site_config

pytestmark = SQLITE_ONLY

EMBEDS = {  # provider: (purpose, the address the README's snippet embeds)
    "Bilibili": ("video", "https://player.bilibili.com/player.html?bvid=BV1GJ411x7h7&autoplay=0"),
    "Youku": ("video", "https://player.youku.com/embed/XNTk5ODk0ODQyOA=="),
    "Tencent Video": ("video", "https://v.qq.com/txp/iframe/player.html?vid=y0031yfbsjr"),
    "YouTube": ("video", "https://www.youtube-nocookie.com/embed/M7lc1UVf-VE"),
    "Amap": ("maps", "https://uri.amap.com/marker?position=116.397428,39.90923&name=Tiananmen"),
}
PURPOSES = [
    {"id": "video", "kind": "cookie", "required": False, "tracking": True, "sensitive": False,
     "title": {"zh-CN": "视频播放器", "en": "Video players"},
     "description": {"zh-CN": "第三方视频平台的播放器，会设置它们自己的 Cookie。",
                     "en": "Players from video platforms, which set their own cookies."}},
    {"id": "maps", "kind": "cookie", "required": False, "tracking": True, "sensitive": False,
     "title": {"zh-CN": "地图", "en": "Maps"},
     "description": {"zh-CN": "第三方地图服务。", "en": "A map provider's embedded map."}},
]
IFRAMES = "".join(
    f'<iframe title="{name}" data-consent="{purpose}" data-provider="{name}" data-src="{url}" width="480" '
    f'height="270"></iframe>'
    for name, (purpose, url) in EMBEDS.items()
)
PROVIDERS = re.compile(r"https://(player\.bilibili\.com|player\.youku\.com|v\.qq\.com|www\.youtube-nocookie\.com|"
                       r"uri\.amap\.com)/.*")


@pytest.fixture
def providers(app, page, host):
    """The providers' hosts, answered by a stub page; returns the list of addresses Chromium asked for."""
    config = load_site_config(allowed_origins=["https://shop.example", host.url])
    config["purposes"] += PURPOSES
    config["policy"]["version"] = "embeds-1"
    import_site(app, config)
    asked = []

    def answer(route):
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>player</p>")

    page.route(PROVIDERS, answer)
    return asked


def placeholder(page, provider):
    return page.get_by_role("group", name=provider)


def loaded(page):
    """Which providers' iframes have a src (what the widget let load)."""
    return {name for name in EMBEDS if page.locator(f'iframe[title="{name}"]').get_attribute("src")}


def test_nothing_loads_before_consent_and_load_once_loads_one_embed(page, service, host, providers, consent):
    open_host(page, service, host, lang="en", body=IFRAMES)
    expect(banner(page)).to_be_visible()
    for name, (purpose, _url) in EMBEDS.items():
        title = "Video players" if purpose == "video" else "Maps"
        expect(placeholder(page, name)).to_contain_text(
            f"This content from {name} loads only with your consent to: {title}.")
        expect(page.locator(f'iframe[title="{name}"]')).to_be_hidden()
    with recording(page):
        banner(page).get_by_role("button", name="Reject all").click()
    expect(placeholder(page, "Youku")).to_be_visible()
    assert providers == [] and loaded(page) == set()

    placeholder(page, "Bilibili").get_by_role("button", name="Load once").click()
    expect(page.locator('iframe[title="Bilibili"]')).to_be_visible()
    expect(placeholder(page, "Bilibili")).to_have_count(0)
    page.wait_for_timeout(300)
    assert [url.split("/")[2] for url in providers] == ["player.bilibili.com"] and loaded(page) == {"Bilibili"}
    assert len(recorded(consent)) == 1  # the refusal only: loading once records nothing

    # Another page view: "Load once" was for that one.
    page.reload()
    expect(placeholder(page, "Bilibili")).to_be_visible()
    assert loaded(page) == set()


def test_always_allow_is_a_recorded_decision_and_a_withdrawal_puts_embeds_back(page, service, host, providers,
                                                                            consent):
    open_host(page, service, host, lang="zh-CN", body=IFRAMES)
    expect(placeholder(page, "YouTube")).to_contain_text(
        "来自 YouTube 的内容需要您同意以下用途后才会加载：视频播放器。")
    with recording(page) as posted:
        placeholder(page, "YouTube").get_by_role("button", name="始终允许：视频播放器").click()
    assert posted.value.status == 201
    decision = recorded(consent)[-1]
    assert decision["collection_method"] == "embed" and decision["choices"]["video"] is True
    assert decision["choices"]["maps"] is False and decision["choices"]["analytics"] is False
    expect(page.locator('iframe[title="Youku"]')).to_be_visible()
    assert loaded(page) == {"Bilibili", "Youku", "Tencent Video", "YouTube"}
    assert not any("amap" in url for url in providers)
    expect(banner(page)).to_have_count(0)  # the decision was made: the banner gave way

    page.get_by_role("button", name="隐私设置").click()
    with recording(page):
        page.get_by_role("dialog").get_by_label("视频播放器").uncheck()
    expect(placeholder(page, "Bilibili")).to_be_visible()
    assert loaded(page) == set()
    assert page.locator("iframe[data-consent=video][src]").count() == 0  # the players were unloaded


def test_a_sensitive_purpose_is_granted_in_its_own_step_not_from_a_placeholder(page, service, host, providers,
                                                                               consent):
    body = ('<iframe title="Support chat" data-consent="cross_border_transfer" data-provider="Support"'
            ' data-src="https://v.qq.com/txp/iframe/player.html?vid=chat"></iframe>')
    open_host(page, service, host, lang="en", body=body)
    placeholder(page, "Support").get_by_role("button", name=re.compile("Always allow")).click()
    expect(page.get_by_role("dialog", name="Privacy preferences")).to_be_visible()
    assert recorded(consent) == [] and providers == []


def test_images_and_media_wait_too(page, service, host, providers):
    body = ('<img alt="poster" data-consent="video" data-src="https://player.youku.com/poster.png" width="120"'
            ' height="90"><video data-consent="video" data-src="https://v.qq.com/clip.mp4" width="160"'
            ' height="90"></video>')
    open_host(page, service, host, lang="en", body=body)
    expect(page.get_by_role("group", name="player.youku.com")).to_be_visible()  # no data-provider: the host
    with recording(page):
        banner(page).get_by_role("button", name="Accept all").click()
    expect(page.locator("img[alt=poster]")).to_have_attribute("src", "https://player.youku.com/poster.png")
    page.wait_for_timeout(300)
    assert any(url.endswith("/poster.png") for url in providers)


def test_only_http_addresses_ever_load(page, service, host, providers):
    """A data-src let through by a sanitizer that passes data-* attributes must not become a live frame."""
    body = ('<iframe title="evil" data-consent="video" data-src="javascript:parent.hacked=1"></iframe>'
            '<iframe title="broken" data-consent="video" data-src="http://[::1"></iframe>'
            '<iframe title="Youku" data-consent="video" data-provider="$& $1" data-src="https://player.youku.com/x">'
            "</iframe>")
    open_host(page, service, host, lang="en", body=body)
    expect(placeholder(page, "$& $1")).to_contain_text("This content from $& $1 loads")
    with recording(page):
        banner(page).get_by_role("button", name="Accept all").click()
    expect(page.locator('iframe[title="Youku"]')).to_have_attribute("src", "https://player.youku.com/x")
    assert page.locator('iframe[title="evil"]').get_attribute("src") is None
    assert page.locator('iframe[title="broken"]').get_attribute("src") is None
    assert page.evaluate("() => window.hacked") is None
    assert page.locator("[data-consent-placeholder]").count() == 0
