"""Figures for the proof-of-consent work: signing cost, consent POST cost, log verification and export speed.

Run from the project root: `.venv/bin/python -m bench.audit_log [events]` (SQLite in a temp dir).
Prints figures only; nothing here asserts a target.
"""
import sys
import tempfile
import time
import tracemalloc

from consent.ledger import signing
from consent.ledger.checkpoints import verify_log
from consent.storage import db
from tests.audit_support import bulk_events, make_auditor
from tests.conftest import bearer, import_site, load_site_config, make_app

BODY = {"site_id": "shop", "choices": {"necessary": True}, "policy_version": "v1", "language": "en"}


def per_call(function, repeat):
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - started) / repeat


def main(events=20_000):
    directory = tempfile.mkdtemp(prefix="consent-bench-")
    app = make_app(f"sqlite:///{directory}/bench.sqlite3", CONSENT_KEY_DIR=f"{directory}/keys")
    db.upgrade(app)
    import_site(app, load_site_config())
    client = app.test_client()

    def post():
        client.post("/api/v1/consents", json=BODY, headers={"Origin": "https://shop.example"})

    post()  # creates the first signing key
    print(f"POST /api/v1/consents (SQLite, HMAC + Ed25519 + chain): {per_call(post, 200) * 1000:.2f} ms each")
    with app.app_context():
        session = db.get_session()
        cost = per_call(lambda: signing.sign(session, {"receipt": "x" * 2000}), 2000)
    print(f"Ed25519 compact JWS of a 2 KB receipt, key cached: {cost * 1e6:.0f} µs each")

    bulk_events(app, "shop", events)
    with app.app_context():
        started = time.perf_counter()
        report = verify_log(db.get_session(), "shop")
    elapsed = time.perf_counter() - started
    print(f"log verify: {report.events_checked} events in {elapsed:.2f} s (intact: {report.intact})")

    api_token, _password = make_auditor(app, ["shop"])
    tracemalloc.start()
    started = time.perf_counter()
    export = "/api/v1/audit/sites/shop/events/export?format=jsonl"
    response = client.get(export, headers=bearer(api_token), buffered=False)
    size = sum(len(chunk) for chunk in response.response)
    response.close()
    elapsed, (_current, peak) = time.perf_counter() - started, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"JSONL export: {size / 1e6:.1f} MB in {elapsed:.2f} s (under tracemalloc), "
          f"peak traced memory {peak / 1e6:.1f} MB")
    db.dispose(app)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
