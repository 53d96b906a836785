"""Operator commands: admin users, API keys, webhook delivery loop."""
import pytest
from sqlalchemy import select

from consent.accounts import operators
from consent.storage import db
from consent.storage.operations import ApiKey, WebhookDelivery
from tests.conftest import bearer, import_site, load_site_config


def invoke(app, *args, input=None):
    return app.test_cli_runner().invoke(args=["consent", *args], input=input)


def test_admin_create_then_sign_in(app):
    result = invoke(app, "admin", "create", "operator", input="a long password\na long password\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        session = db.get_session()
        assert operators.authenticate(session, "operator", "a long password") is not None
        assert operators.authenticate(session, "operator", "wrong password") is None


@pytest.mark.parametrize(
    ("username", "password"), [("operator", "short"), ("x" * 65, "a long password"), ("op\x00", "a long password")]
)
def test_admin_create_refuses_weak_or_bad_input(app, username, password):
    result = invoke(app, "admin", "create", username, input=f"{password}\n{password}\n")
    assert result.exit_code != 0
    with app.app_context():
        assert operators.authenticate(db.get_session(), username, password) is None


def test_apikey_create_list_revoke(app, client):
    result = invoke(app, "apikey", "create", "--site", "shop", "--label", "crm")
    assert result.exit_code == 0, result.output
    token = result.output.split("keep it secret): ")[1].strip()
    assert client.get("/api/v1/sites/shop/subjects/a/consents", headers=bearer(token)).status_code == 200
    listed = invoke(app, "apikey", "list", "--site", "shop").output
    prefix = listed.split("\t")[0]
    assert token.startswith(prefix) and "active" in listed and token not in listed
    assert invoke(app, "apikey", "revoke", "--site", "shop", prefix).exit_code == 0
    assert "revoked" in invoke(app, "apikey", "list", "--site", "shop").output
    assert client.get("/api/v1/sites/shop/subjects/a/consents", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize(
    "args", [("apikey", "create", "--site", "nope"), ("apikey", "revoke", "--site", "shop", "csk_missing")]
)
def test_apikey_commands_refuse_unknown_things(app, args):
    result = invoke(app, *args)
    assert result.exit_code != 0 and "Error" in result.output
    with app.app_context():
        assert db.get_session().scalars(select(ApiKey)).all() == []


def test_webhooks_deliver_once_tries_what_is_due(app, consent):
    app.config["CONSENT_WEBHOOK_ALLOW_PRIVATE"] = True  # the receiver is on loopback, over http
    import_site(app, load_site_config(webhook={"url": "http://127.0.0.1:9/unreachable"}))
    consent.post()
    assert invoke(app, "webhooks", "deliver", "--once").exit_code == 0
    with app.app_context():
        [delivery] = db.get_session().scalars(select(WebhookDelivery)).all()
        assert delivery.attempts == 1 and delivery.status == "pending"
