"""Our logs never hold a raw client address, a subject id or a receipt token."""
import logging
import urllib.error
import urllib.request

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from consent.http.clients import client_hash
from consent.storage import db
from tests.browser.conftest import BackgroundServer
from tests.server import GunicornServer

ADDRESS = "198.51.100.23"
SUBJECT = "subject-13800138000"


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def logged_text(caplog):
    return "\n".join(record.getMessage() for record in caplog.records)


def test_request_log_has_route_and_client_hash_only(app, consent, all_logs):
    consent.client.environ_base["REMOTE_ADDR"] = ADDRESS
    created = consent.post(**consent.user(SUBJECT)).get_json()
    consent.post(**consent.user(SUBJECT), choices={"necessary": False})  # refused
    consent.client.get(created["receipt_url"])
    consent.client.get(f"/api/v1/receipts/{created['receipt_id']}?token=forged-{SUBJECT}")
    consent.client.get(f"/no/such/page/{SUBJECT}")

    logged = logged_text(all_logs)
    with app.app_context():
        hashed = client_hash(ADDRESS)
    lines = [r.getMessage() for r in all_logs.records if r.name == "consent.requests"]
    assert len(lines) == 5 and all(f"client={hashed}" in line for line in lines)
    assert "POST /api/v1/consents 201" in lines[0] and "GET /api/v1/receipts/<receipt_id> 200" in lines[2]
    for secret in (ADDRESS, SUBJECT, created["receipt_token"], created["receipt_id"]):
        assert secret not in logged


def test_development_server_lines_are_redacted(app, all_logs):
    with BackgroundServer(app) as server:
        for path in (f"/api/v1/receipts/r-1?token={SUBJECT}", f"/api/v1/sites/shop/config?lang=en&s={SUBJECT}"):
            try:
                urllib.request.urlopen(server.url + path).close()
            except OSError:
                pass
    dev_lines = [r.getMessage() for r in all_logs.records if r.name == "werkzeug"]
    assert any('"GET /api/v1/receipts/<receipt_id> HTTP/1.1" 403' in line for line in dev_lines), dev_lines
    with app.app_context():
        assert all(line.startswith(f"client={client_hash('127.0.0.1')}") for line in dev_lines)
    assert "127.0.0.1" not in logged_text(all_logs) and SUBJECT not in logged_text(all_logs)


def test_refused_request_lines_keep_no_path(app, all_logs):
    # What werkzeug logs when a request line cannot be parsed: the line itself, quoted.
    logging.getLogger("werkzeug").info(
        f"{ADDRESS} - - [25/Nov/2026 10:00:00] code 400, message Bad request syntax (%r)",
        f"GET /api/v1/sites/shop/subjects/{SUBJECT} HTTP/1.1x",
    )
    [line] = [r.getMessage() for r in all_logs.records if r.name == "werkzeug"]
    assert "code 400" in line and SUBJECT not in line and ADDRESS not in line


def test_database_errors_do_not_quote_their_parameters(app):
    with app.app_context(), pytest.raises(DBAPIError) as raised:
        db.get_session().execute(text("SELECT no_such_column FROM consent_events WHERE subject_id = :s"),
                                 {"s": SUBJECT})
    assert SUBJECT not in str(raised.value)


def test_gunicorn_workers_write_their_request_lines_to_the_error_log(tmp_path):
    """Before: under gunicorn nothing had asked Flask for the app's logger, which gets its handler then, until
    the first error: every request line before it reached no handler and was lost."""
    log = tmp_path / "gunicorn.log"
    with GunicornServer(f"sqlite:///{tmp_path / 'consent.sqlite3'}", log_path=log) as server:
        urllib.request.urlopen(server.url + "/api/v1/openapi.json").close()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(server.url + f"/no/such/page/{SUBJECT}")
    lines = log.read_text().splitlines()
    assert [line for line in lines if "GET /api/v1/openapi.json 200" in line and "client=" in line]
    assert [line for line in lines if "GET - 404" in line] and not [line for line in lines if SUBJECT in line]
