"""Password guessing on the consoles: sign-in POSTs are limited per client, refused with a readable 429 page."""
import pytest

from consent import config
from consent.accounts import operators
from consent.storage import db
from tests.audit_support import make_auditor
from tests.conftest import STORAGE_AGNOSTIC, csrf_token

pytestmark = STORAGE_AGNOSTIC  # console and page logic over storage; tests/conftest.py

PASSWORD = "correct horse battery"
ATTACKER, NEIGHBOUR = "198.51.100.66", "198.51.100.67"

# Each console: its sign-in page and the fields of a correct sign-in.
CONSOLES = {
    "admin": ("/admin/login", {"username": "operator", "password": PASSWORD}),
    "auditor": ("/audit/login", {"email": "dpo@example.org", "password": PASSWORD}),
}

# Hostile attempts, each a change to the correct fields (None: no CSRF token at all).
HOSTILE_ATTEMPTS = [
    ("wrong password", {"password": "wrong password!"}),
    ("empty password", {"password": ""}),
    ("oversized password", {"password": "x" * 10_000}),
    ("NUL in the password", {"password": "correct\x00horse"}),
    ("forged CSRF token", {"csrf_token": "forged"}),
    ("no CSRF token", None),
]


@pytest.fixture
def consoles(app_with):
    """An app allowing 3 sign-in attempts a minute per client, with an operator and an auditor."""
    app = app_with(CONSENT_RATELIMIT_SIGN_IN="3 per minute")
    with app.app_context(), db.write_transaction() as session:
        operators.set_password(session, "operator", PASSWORD)
    make_auditor(app, ["shop"], email="dpo@example.org", password=PASSWORD)
    return app


def client_from(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def attempt(client, console, changes=None, lang="en", drop_token=False):
    path, fields = CONSOLES[console]
    token = csrf_token(client.get(f"{path}?lang={lang}").get_data(as_text=True))
    data = {**fields, "csrf_token": token, **(changes or {})}
    if drop_token:
        del data["csrf_token"]
    return client.post(f"{path}?lang={lang}", data=data)


def assert_refused_page(response, text="Too many sign-in attempts from this address"):
    assert response.status_code == 429 and response.mimetype == "text/html"
    assert text in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("console", CONSOLES)
@pytest.mark.parametrize(("what", "changes"), HOSTILE_ATTEMPTS)
def test_repeated_hostile_attempts_are_refused_and_a_neighbour_is_not(consoles, console, what, changes):
    attacker = client_from(consoles, ATTACKER)
    answers = [attempt(attacker, console, changes, drop_token=changes is None).status_code for _ in range(3)]
    assert all(status in (200, 400, 401) for status in answers), what
    assert_refused_page(attempt(attacker, console))  # even the right password, now
    assert attacker.get(f"{CONSOLES[console][0].rsplit('/', 1)[0]}/").status_code == 302  # not signed in
    assert attempt(client_from(consoles, NEIGHBOUR), console).status_code == 302


@pytest.mark.parametrize("console", CONSOLES)
def test_a_correct_sign_in_under_the_limit_works(consoles, console):
    client = client_from(consoles, ATTACKER)
    assert [attempt(client, console, {"password": "typo"}).status_code for _ in range(2)] == [401, 401]
    assert attempt(client, console).status_code == 302


def test_both_consoles_count_in_one_bucket_and_pages_are_not_counted(consoles):
    client = client_from(consoles, ATTACKER)
    for _ in range(20):
        assert client.get("/admin/login").status_code == 200
    attempt(client, "admin", {"password": "guess one"})
    attempt(client, "admin", {"password": "guess two"})
    attempt(client, "auditor", {"password": "guess three"})
    assert_refused_page(attempt(client, "auditor"))


@pytest.mark.parametrize("console", CONSOLES)
def test_the_refusal_speaks_chinese(consoles, console):
    client = client_from(consoles, ATTACKER)
    for _ in range(3):
        attempt(client, console, {"password": "guess"}, lang="zh-CN")
    response = attempt(client, console, lang="zh-CN")
    assert_refused_page(response, "来自此地址的登录尝试过多")
    assert "429 登录尝试过多" in response.get_data(as_text=True)


def test_the_default_limit_holds_and_comes_from_the_environment(app, client, monkeypatch):
    assert app.config["CONSENT_RATELIMIT_SIGN_IN"] == "10 per minute"
    with app.app_context(), db.write_transaction() as session:
        operators.set_password(session, "operator", PASSWORD)
    answers = [attempt(client, "admin", {"password": f"guess {n}"}).status_code for n in range(11)]
    assert answers == [401] * 10 + [429]
    monkeypatch.setenv("CONSENT_RATELIMIT_SIGN_IN", "5 per hour")
    assert config.from_environment()["CONSENT_RATELIMIT_SIGN_IN"] == "5 per hour"
