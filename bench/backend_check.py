"""Benchmark: how fast a site backend gets answers, single and in batches of 1,000 (SQLite).

Run: .venv/bin/python -m bench.backend_check [events]   (default 5,000 recorded decisions)
Prints figures; asserts nothing about them.
"""
import secrets
import statistics
import sys
import tempfile
import time

from consent import create_app
from consent.ledger.decisions import Principal, record_consent
from consent.ledger.site_facts import SERVICE_PAGE
from consent.schemas import ConsentRequestSchema, load
from consent.storage import db
from tests.conftest import bearer, create_api_key, import_site, load_site_config


def timed(function, repeat):
    durations = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations) * 1000


def main(events):
    with tempfile.TemporaryDirectory() as directory:
        app = create_app({"DATABASE_URL": f"sqlite:///{directory}/bench.sqlite3",
                          "SECRET_KEY": secrets.token_urlsafe(48)})
        db.upgrade(app)
        import_site(app, load_site_config())
        key = create_api_key(app)
        start = time.perf_counter()
        with app.test_request_context():  # receipts carry absolute URLs
            for number in range(events):
                data = load(ConsentRequestSchema(), {
                    "site_id": "shop", "subject_id": f"user-{number}", "policy_version": "v1", "language": "en",
                    "choices": {"necessary": True, "marketing_sms": number % 2 == 0},
                })
                # Seeded as the service's own pages record: the user proven (a subject token's worth).
                principal = Principal(f"bench-visitor-{number}", "subject_token", f"user-{number}")
                record_consent(data, origin=SERVICE_PAGE, principal=principal)
        print(f"recorded {events} decisions in {time.perf_counter() - start:.1f} s")

        client = app.test_client()
        subjects = [f"user-{number}" for number in range(0, events, max(1, events // 1000))][:1000]
        single = timed(lambda: client.get("/api/v1/sites/shop/subjects/user-7/consents", headers=bearer(key)), 200)
        batch = timed(lambda: client.post("/api/v1/sites/shop/consents/query", headers=bearer(key),
                                          json={"subjects": subjects, "purpose": "marketing_sms"}), 10)
        print(f"single subject check: {single:.2f} ms median (200 requests)")
        print(f"batch of {len(subjects)} subjects: {batch:.1f} ms median (10 requests)")
        db.dispose(app)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
