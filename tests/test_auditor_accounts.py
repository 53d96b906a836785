"""Auditor accounts after a leak or a departure: disabled everywhere, or given a new API token."""
import pytest

from tests.audit_support import make_auditor
from tests.conftest import STORAGE_AGNOSTIC, bearer, csrf_token

pytestmark = STORAGE_AGNOSTIC  # console and page logic over storage; tests/conftest.py

EMAIL, PASSWORD = "dpo@example.org", "correct horse battery"
EVENTS = "/api/v1/audit/sites/shop/events"


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=["consent", "auditor", *args])


def sign_in(client, password=PASSWORD):
    token = csrf_token(client.get("/audit/login").get_data(as_text=True))
    return client.post("/audit/login", data={"email": EMAIL, "password": password, "csrf_token": token})


@pytest.fixture
def api_token(app):
    return make_auditor(app, ["shop"], email=EMAIL, password=PASSWORD)[0]


def test_a_disabled_auditor_is_refused_everywhere_until_enabled(app, client, api_token):
    other = app.test_client()
    assert sign_in(other).status_code == 302 and other.get("/audit/").status_code == 200  # a session already open

    result = invoke(app, "disable", "DPO@example.org")
    assert result.exit_code == 0, result.output
    assert client.get(EVENTS, headers=bearer(api_token)).status_code == 401
    assert sign_in(client).status_code == 401  # the right password, refused
    assert other.get("/audit/").status_code == 302  # the open session ends at its next request
    assert other.get("/audit/receipts/anything").status_code == 302
    assert f"{EMAIL}\tshop\tdisabled since " in invoke(app, "list").output

    assert invoke(app, "enable", EMAIL).exit_code == 0
    assert client.get(EVENTS, headers=bearer(api_token)).status_code == 200
    assert sign_in(client).status_code == 302
    assert invoke(app, "list").output == f"{EMAIL}\tshop\n"


def test_a_reissued_token_replaces_the_old_one(app, client, api_token):
    assert sign_in(client).status_code == 302
    result = invoke(app, "reissue-token", EMAIL)
    assert result.exit_code == 0, result.output
    new_token = result.output.split("no longer works): ")[1].split()[0]
    assert new_token != api_token
    assert client.get(EVENTS, headers=bearer(api_token)).status_code == 401
    assert client.get(EVENTS, headers=bearer(new_token)).status_code == 200
    assert client.get("/audit/").status_code == 200  # the console password is not the token: still signed in


def test_a_disabled_auditor_keeps_being_refused_with_a_reissued_token(app, client, api_token):
    invoke(app, "disable", EMAIL)
    new_token = invoke(app, "reissue-token", EMAIL).output.split("no longer works): ")[1].split()[0]
    assert client.get(EVENTS, headers=bearer(new_token)).status_code == 401


@pytest.mark.parametrize("command", ["disable", "enable", "reissue-token"])
@pytest.mark.parametrize("email", ["nobody@example.org", "", "dpo@example.org\x00", "x" * 1000, "' OR 1=1 --"])
def test_commands_refuse_unknown_auditors_and_change_nothing(app, client, api_token, command, email):
    result = invoke(app, command, email)
    assert result.exit_code != 0 and "No auditor" in result.output
    assert client.get(EVENTS, headers=bearer(api_token)).status_code == 200
    assert invoke(app, "list").output == f"{EMAIL}\tshop\n"
