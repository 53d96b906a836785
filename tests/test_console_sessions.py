"""Console sessions end on the server (issue 12, finding 5): a session cookie copied before sign-out, a
password change or disabling opens nothing afterwards; sessions end after a working day; the cookie is
`Secure` whenever the public URL is https."""
import time

import flask
import pytest
from sqlalchemy import delete

from consent.accounts import auditors, operators
from consent.errors import InvalidRequest
from consent.storage import db
from consent.storage.operations import AdminUser
from tests.audit_support import make_auditor
from tests.conftest import PASSWORD, STORAGE_AGNOSTIC, OperatorActions, csrf_token

pytestmark = STORAGE_AGNOSTIC  # console and page logic over storage; tests/conftest.py

AUDITOR = "dpo@example.org"
# Each console: where it lives, and a page that needs a signed-in user.
CONSOLES = {"admin": ("/admin/", "/admin/sites/shop"), "auditor": ("/audit/", "/audit/?site=shop")}


def sign_in(client, console):
    if console == "admin":
        return OperatorActions(client).login()
    token = csrf_token(client.get("/audit/login").get_data(as_text=True))
    return client.post("/audit/login", data={"email": AUDITOR, "password": PASSWORD, "csrf_token": token})


@pytest.fixture
def users(app):
    with app.app_context(), db.write_transaction() as session:
        operators.set_password(session, "operator", PASSWORD)
    make_auditor(app, ["shop"], email=AUDITOR, password=PASSWORD)


def signed_in(client, console):
    assert sign_in(client, console).status_code == 302
    return CONSOLES[console]


def copy_of_cookie(app, client):
    """Another browser holding the same session cookie, as someone who copied it would."""
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    return copy


def sign_out(client, console):
    """Post the sign-out form with a valid token (the sign-in page has one even when signed out)."""
    home = CONSOLES[console][0]
    token = csrf_token(client.get(f"{home}login").get_data(as_text=True))
    return client.post(f"{home}logout", data={"csrf_token": token})


def run(app, *args, input=None):
    result = app.test_cli_runner().invoke(args=["consent", *args], input=input)
    assert result.exit_code == 0, result.output


NEW_PASSWORD = "a brand new password\n" * 2


def change_admin_password(app):
    run(app, "admin", "create", "operator", input=NEW_PASSWORD)  # how an operator's password is changed


def change_auditor_password(app):
    run(app, "auditor", "set-password", AUDITOR, input=NEW_PASSWORD)


def disable_and_enable_auditor(app):
    run(app, "auditor", "disable", AUDITOR)
    run(app, "auditor", "enable", AUDITOR)


ENDINGS = [
    ("admin", "sign-out", lambda app, client: sign_out(client, "admin")),
    ("admin", "password change", lambda app, client: change_admin_password(app)),
    ("auditor", "sign-out", lambda app, client: sign_out(client, "auditor")),
    ("auditor", "password change", lambda app, client: change_auditor_password(app)),
    ("auditor", "disabled, then enabled again", lambda app, client: disable_and_enable_auditor(app)),
]


@pytest.mark.parametrize(("console", "what", "end"), ENDINGS, ids=[f"{c}: {w}" for c, w, _ in ENDINGS])
def test_a_copied_cookie_stops_working_when_the_session_ends(app, client, users, console, what, end):
    _home, page = signed_in(client, console)
    copy = copy_of_cookie(app, client)
    assert copy.get(page).status_code == 200  # the copy works while the session lasts
    end(app, client)
    for browser in (copy, client):
        answer = browser.get(page)
        assert answer.status_code == 302 and "/login" in answer.location, what


@pytest.mark.parametrize("console", CONSOLES)
def test_a_new_sign_in_works_and_a_stale_cookie_cannot_sign_it_out(app, client, users, console):
    _home, page = signed_in(client, console)
    stale = copy_of_cookie(app, client)
    sign_out(client, console)
    signed_in(client, console)
    assert client.get(page).status_code == 200
    sign_out(stale, console)  # an ended session, even with a valid form token, ends nothing else
    assert client.get(page).status_code == 200 and stale.get(page).status_code == 302


@pytest.mark.parametrize("console", CONSOLES)
def test_sessions_end_after_their_lifetime(app, client, users, console):
    _home, page = signed_in(client, console)
    lifetime = app.config["CONSENT_SESSION_MAX_AGE_SECONDS"]
    assert lifetime <= 12 * 3600 and app.permanent_session_lifetime.total_seconds() == lifetime
    with client.session_transaction() as session:
        session[console] = {**session[console], "since": int(time.time()) - lifetime - 1}
    assert client.get(page).status_code == 302


@pytest.mark.parametrize("console", CONSOLES)
def test_the_cookie_lasts_only_as_long_as_the_browser(client, users, console):
    signed_in(client, console)
    assert client.get_cookie("session").expires is None


def test_a_cookie_of_a_deleted_user_opens_nothing(app, client, users):
    signed_in(client, "admin")
    with app.app_context(), db.write_transaction() as session:
        session.execute(delete(AdminUser))
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(("public_url", "secure"),
                         [("https://consent.example", True), ("http://127.0.0.1:5000", False)])
def test_the_session_cookie_is_secure_whenever_the_public_url_is_https(app_with, public_url, secure):
    client = app_with(CONSENT_PUBLIC_URL=public_url).test_client()
    response = client.get("/admin/login", base_url=public_url)  # the form's CSRF token goes into the session
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=") and ("; Secure" in cookie) is secure
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("password", ["short", "x" * 201])
def test_an_auditor_password_must_be_12_to_200_characters(app, users, password):
    with app.app_context(), db.write_transaction() as session, pytest.raises(InvalidRequest):
        auditors.set_password(session, AUDITOR, password)


def test_a_new_auditor_password_signs_in(app, client, users):
    change_auditor_password(app)
    token = csrf_token(client.get("/audit/login").get_data(as_text=True))
    answer = client.post("/audit/login", data={"email": AUDITOR, "password": "a brand new password",
                                               "csrf_token": token})
    assert answer.status_code == 302 and client.get("/audit/").status_code == 200


@pytest.mark.parametrize("console", CONSOLES)
def test_the_api_opens_no_console_session_even_with_a_signed_in_cookie(app, client, users, console):
    """The API's callers prove themselves with bearer tokens or credentials in their bodies: a console's cookie,
    sent along to the API, is not even read, and no API answer can set or renew one (issue 18)."""
    signed_in(client, console)
    cookie = client.get_cookie("session").value
    with app.test_request_context("/api/v1/consents", headers={"Cookie": f"session={cookie}"}):
        api_session = app.session_interface.open_session(app, flask.request)
        assert app.session_interface.is_null_session(api_session) and console not in api_session
    with app.test_request_context(CONSOLES[console][1], headers={"Cookie": f"session={cookie}"}):
        assert console in app.session_interface.open_session(app, flask.request)
    answer = client.get("/api/v1/sites/shop/config")
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
