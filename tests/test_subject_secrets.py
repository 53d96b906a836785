"""Subject secrets: shown in the console, rotated with an overlap from the console or the CLI, never exported."""
import re

import pytest

from consent.sites import configs
from consent.storage import db
from consent.subjects import identity
from tests.conftest import subject_token
from tests.test_operator_cli import invoke

ROTATE = "/admin/sites/shop/subject-secret"


def secrets_of(app, site_id="shop"):
    with app.app_context():
        listed = identity.list_secrets(db.get_session(), site_id)
        return [(secret.kid, secret.secret, secret.retires_at) for secret in listed]


def test_every_new_site_has_one_secret_in_use(app):
    [(kid, secret, retires_at)] = secrets_of(app)
    assert re.fullmatch(r"[0-9a-f]{8}", kid) and secret.startswith("sts_") and retires_at is None


def test_the_console_shows_the_secret_and_rotates_it_with_an_overlap(app, client, consent, operator):
    [(kid, secret, _)] = secrets_of(app)
    page = client.get("/admin/sites/shop").get_data(as_text=True)
    assert kid in page and secret in page
    old_token = subject_token(app, "user-42")
    response = operator.submit(ROTATE, {"overlap_hours": "24"}, form_path="/admin/sites/shop")
    assert response.status_code == 303
    secrets = secrets_of(app)
    assert len(secrets) == 2 and secrets[0][2] is None and secrets[1][0] == kid and secrets[1][2] is not None
    # Tokens made with the old secret still verify during the overlap; new ones use the new secret.
    assert consent.post(subject_id="user-42", subject_token=old_token).get_json()["subject_verified"] is True
    assert subject_token(app, "user-43").split(".")[1] == secrets[0][0]


@pytest.mark.parametrize("hours", ["-1", "100000", "many", ""])
def test_the_console_refuses_a_bad_overlap(app, operator, hours):
    response = operator.submit(ROTATE, {"overlap_hours": hours}, form_path="/admin/sites/shop")
    assert response.status_code == 422 and len(secrets_of(app)) == 1


def test_rotation_without_overlap_stops_the_old_secret_at_once(app, consent):
    old_token = subject_token(app, "user-42")
    result = invoke(app, "subject-secret", "rotate", "--site", "shop", "--overlap-hours", "0")
    assert result.exit_code == 0, result.output
    assert len(secrets_of(app)) == 1
    answer = consent.post(subject_id="user-42", subject_token=old_token).get_json()
    assert answer["subject_verified"] is False and answer["subject_problem"] == "subject_token_invalid"


def test_the_cli_lists_secrets_and_makes_a_token_the_api_accepts(app, consent):
    listed = invoke(app, "subject-secret", "list", "--site", "shop")
    [(kid, secret, _)] = secrets_of(app)
    assert listed.exit_code == 0 and kid in listed.output and secret in listed.output
    made = invoke(app, "subject-secret", "token", "--site", "shop", "user-42")
    assert made.exit_code == 0
    answer = consent.post(subject_id="user-42", subject_token=made.output.strip()).get_json()
    assert answer["subject_verified"] is True


@pytest.mark.parametrize("args", [
    ("rotate", "--site", "nowhere"),
    ("rotate", "--site", "shop", "--overlap-hours", "-5"),
    ("list", "--site", "no\x00site"),
    ("token", "--site", "nowhere", "user-42"),
    ("token", "--site", "shop", "--expires-in", "0", "user-42"),
])
def test_the_cli_refuses_bad_input_in_a_sentence(app, args):
    result = invoke(app, "subject-secret", *args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert len(secrets_of(app)) == 1


def test_secrets_are_never_exported(app):
    [(_, secret, _)] = secrets_of(app)
    with app.app_context():
        exported = configs.dump_yaml(configs.export_site(db.get_session(), "shop"))
    assert secret not in exported and "subject" not in exported
