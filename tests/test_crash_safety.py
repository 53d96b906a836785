"""Crash safety: SIGKILL the real server in the middle of a stream of decisions, restart it, and find
every acknowledged (201) decision stored and the site's hash chain intact."""
import http.client
import json
import threading
from urllib.parse import urlsplit

from sqlalchemy import func, select, text

from consent.ledger.chain import verify_chain
from consent.storage import db
from consent.storage.models import ConsentEvent, Receipt
from tests.conftest import ROOMY_LIMITS, SHOP_ORIGIN, ConsentActions, import_site, load_site_config, make_app
from tests.server import SECRET_KEY, GunicornServer

POSTERS = 4
ACKNOWLEDGED_BEFORE_KILL = 40


class DecisionStream:
    """Threads posting decisions as fast as the server takes them, remembering every 201."""

    def __init__(self, url):
        self.address = urlsplit(url)
        self.acknowledged = []  # (receipt_id, receipt_token)
        self.unanswered = 0  # sent, then the connection died: stored or not, both are correct
        self.refused = []  # (status, answer) of anything but a 201 before the kill: none expected
        self.lock = threading.Lock()
        self.enough = threading.Event()
        self.threads = [threading.Thread(target=self.post_until_refused, args=(n,)) for n in range(POSTERS)]

    def post_until_refused(self, poster):
        body = json.dumps(ConsentActions(None, None).body(visitor_id=f"crash-visitor-{poster}"))
        for _ in range(10_000):
            connection = http.client.HTTPConnection(self.address.hostname, self.address.port, timeout=10)
            try:
                connection.request("POST", "/api/v1/consents", body=body,
                                   headers={"Content-Type": "application/json", "Origin": SHOP_ORIGIN})
                response = connection.getresponse()
                answer = json.loads(response.read())
            except (OSError, http.client.HTTPException, ValueError):
                with self.lock:
                    self.unanswered += 1
                return
            finally:
                connection.close()
            if response.status != 201:  # a thread's failed assert would only end the thread: remember it
                with self.lock:
                    self.refused.append((response.status, answer))
                return
            with self.lock:
                self.acknowledged.append((answer["receipt_id"], answer["receipt_token"]))
                if len(self.acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                    self.enough.set()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc):
        for thread in self.threads:
            thread.join(timeout=30)


def stored_state(app):
    with app.app_context():
        session = db.get_session()
        receipt_ids = set(session.scalars(select(Receipt.receipt_id)))
        events = session.scalar(select(func.count()).select_from(ConsentEvent))
        report = verify_chain(session, "shop")
        if app.config["DATABASE_URL"].startswith("sqlite"):
            assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    return receipt_ids, events, report


def test_acknowledged_decisions_survive_sigkill(database_url, tmp_path):
    app = make_app(database_url, SECRET_KEY=SECRET_KEY)  # the server's: receipts' HMACs are checked
    import_site(app, load_site_config())
    log = tmp_path / "gunicorn.log"

    server = GunicornServer(database_url, workers=2, threads=2, log_path=log, **ROOMY_LIMITS).start()
    with DecisionStream(server.url) as stream:
        assert stream.enough.wait(timeout=60), f"too few decisions acknowledged; see {log}"
        server.kill()  # mid-stream: other posts are on the wire or inside a transaction right now

    assert stream.refused == []
    receipt_ids, events, report = stored_state(app)
    acknowledged = dict(stream.acknowledged)
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL
    assert set(acknowledged) <= receipt_ids, "an acknowledged decision was lost"
    assert len(acknowledged) <= events <= len(acknowledged) + stream.unanswered
    assert report.intact and report.events_checked == events, report.problem

    with GunicornServer(database_url, log_path=log, **ROOMY_LIMITS) as restarted:
        after = ConsentActions(None, None)
        connection = http.client.HTTPConnection("127.0.0.1", restarted.port, timeout=10)
        for receipt_id, token in list(acknowledged.items())[:: max(1, len(acknowledged) // 10)]:
            connection.request("GET", f"/api/v1/receipts/{receipt_id}?token={token}")
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["signature_valid"] is True
        connection.request("POST", "/api/v1/consents", body=json.dumps(after.body()),
                           headers={"Content-Type": "application/json", "Origin": SHOP_ORIGIN})
        assert connection.getresponse().status == 201
        connection.close()

    _receipts, events_after, report_after = stored_state(app)
    assert events_after == events + 1 and report_after.intact, report_after.problem
    db.dispose(app)
