"""Security headers on our pages, API and widget script; CORS only for the origins sites allow."""
import pytest

from tests.conftest import SHOP_ORIGIN, STORAGE_AGNOSTIC

pytestmark = STORAGE_AGNOSTIC  # console and page logic over storage; tests/conftest.py


def directives(policy):
    return dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";"))


@pytest.mark.parametrize("path", ["/", "/?lang=en", "/no-such-page"])
def test_our_pages_have_a_strict_policy(client, path):
    response = client.get(path)
    assert response.mimetype == "text/html"
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'self'" and policy["object-src"] == "'none'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_api_answers_are_never_sniffed_or_rendered(client):
    response = client.get("/api/v1/sites/shop/config")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert directives(response.headers["Content-Security-Policy"])["default-src"] == "'none'"
    assert response.headers["Cache-Control"] == "no-cache"  # a site's configuration may be cached, revalidated


def test_decisions_and_receipts_are_never_cached(consent):
    created = consent.post()
    receipt = consent.client.get(created.get_json()["receipt_url"])
    assert created.headers["Cache-Control"] == "no-store" and receipt.headers["Cache-Control"] == "no-store"


def test_a_views_own_header_stands_and_none_is_doubled(client, consent):
    """The security headers are added only where a view set none of its own (the API's config sets no-cache,
    the decision no-store), and the CORS and rate-limit headers, added rather than set, appear once each."""
    config, decision = client.get("/api/v1/sites/shop/config"), consent.post()
    assert config.headers.getlist("Cache-Control") == ["no-cache"]
    for name in ("Cache-Control", "Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy",
                 "Access-Control-Allow-Origin", "Access-Control-Max-Age", "X-RateLimit-Limit", "X-RateLimit-Remaining"):
        assert len(decision.headers.getlist(name)) == 1, name
    assert decision.headers["Cache-Control"] == "no-store"
    assert decision.headers["Access-Control-Allow-Origin"] == SHOP_ORIGIN


def test_pages_naming_a_person_are_never_cached(client, consent):
    """A visitor's receipt page and history page, and the consoles, carried no Cache-Control: a CDN with a
    default lifetime in front would have kept them, token-addressed receipts and sign-in pages alike."""
    secret = "visitor-credential-for-the-cache-test"
    created = consent.post(visitor_secret=secret).get_json()
    history = consent.client.post("/api/v1/sites/shop/history-link", json={"visitor_secret": secret},
                                  headers={"Origin": SHOP_ORIGIN}).get_json()
    pages = [f"/receipts/{created['receipt_id']}?token={created['receipt_token']}", history["history_url"],
             "/audit/login", "/admin/login", "/"]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200 and response.headers.getlist("Cache-Control") == ["no-store"], path


def test_widget_script_loads_from_any_site(client):
    response = client.get("/static/consent.js")
    assert response.status_code == 200 and response.mimetype in ("text/javascript", "application/javascript")
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in response.headers


def test_transport_security_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/").headers
    secure = client.get("/", base_url="https://consent.example")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


HOSTILE_ORIGINS = [
    "https://evil.example",
    "null",
    SHOP_ORIGIN + "/",
    SHOP_ORIGIN.replace("https:", "http:"),
    SHOP_ORIGIN + ":8443",
    "https://sub.shop.example",
    "https://shop.example.evil.example",
    SHOP_ORIGIN.upper(),
]


@pytest.mark.parametrize("origin", HOSTILE_ORIGINS)
def test_cors_is_granted_to_no_other_origin(consent, origin):
    headers = {"Origin": origin}
    answers = [
        consent.client.get("/api/v1/sites/shop/config", headers=headers),
        consent.client.options("/api/v1/consents", headers={**headers, "Access-Control-Request-Method": "POST"}),
        consent.post(origin=origin),
    ]
    assert all("Access-Control-Allow-Origin" not in answer.headers for answer in answers)
    assert answers[1].status_code == 403 and answers[2].status_code == 403
    assert consent.stored_events() == []
