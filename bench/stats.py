"""Statistics benchmark (issue 17): the console's Statistics page at 1,000,000 events, the roll-up that feeds it,
and what statistics add to a decision.

1. 1,000,000 events of the demo site, spread over 90 days, both languages, two policy versions and every kind of
   choice, are generated as rows (copies of one real decision with their documents rewritten; their chain is not
   valid: the roll-up does not read it), then rolled up once: events a second.
2. The page for 30 days and for 366 days, in process (Flask's test client, signed in): median and p99 of 50 each.
3. A decision in process, 300 in a row, while nothing else runs and while `flask consent stats rollup --worker`
   counts beside it every 0.2 s, in the same run: the cost statistics add to a decision, which should be noise
   (nothing on the decision path changed; the worker's short write transactions are what could be felt).

    .venv/bin/python -m bench.stats [--events 1000000]
"""
import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.common import BENCH_ORIGIN, SECRET_KEY, bench_app, machine_note, prepare_database, print_table
from bench.lookup import EVENT_COLUMNS, template_rows
from consent.accounts import operators
from consent.sites import purposes as meaning
from consent.stats import rollup
from consent.storage import db
from tests.conftest import PASSWORD, csrf_token

HEADER = ["measure", "median", "p99", "note"]
START = datetime(2026, 8, 1, tzinfo=UTC)


def generated_events(template, count, purposes):
    """Event rows like the template's: seq 2, 3, ...; day, language, version, choices and signals varied."""
    document = json.loads(template["document"])
    randomly = random.Random(16)
    for seq in range(2, count + 2):
        granted = {purpose: randomly.random() < 0.4 for purpose in purposes}
        action = "accept_all" if all(granted.values()) else "reject_all" if not any(granted.values()) else "custom"
        recorded = START + timedelta(seconds=seq * 90 * 86400 // count)
        event = {**document, "event_id": str(uuid.uuid4()), "recorded_at": recorded.isoformat(),
                 "language": "zh-CN" if seq % 3 else "en", "choices": {**document["choices"], **granted},
                 "action": action, "signals": {"dnt": seq % 7 == 0, "gpc": seq % 11 == 0}}
        yield tuple({**template, "seq": seq, "event_id": event["event_id"], "visitor_id": f"visitor-{seq}",
                     "subject_ref": None, "action": action, "idempotency_key": None, "created_at": recorded,
                     "document": json.dumps(event)}[column] for column in EVENT_COLUMNS)


def asked_in_the_banner(config):
    """The consent purposes "Accept all" grants (those of a separate step are asked on their own)."""
    return [purpose["id"] for purpose in config["purposes"]
            if meaning.is_consent(purpose) and not meaning.in_own_step(purpose)]


def fill(path, rows):
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous=OFF")  # generating test data, not recording decisions
    connection.execute("BEGIN")
    connection.executemany(f"INSERT INTO consent_events ({', '.join(EVENT_COLUMNS)}) "
                           f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})", rows)
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def timed(call, runs):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(len(times) * 0.99))]


def accept_all(config):
    """The body of an "Accept all" decision on the site's current policy."""
    return {"site_id": config["id"], "policy_version": config["policy"]["version"], "language": "en",
            "choices": dict.fromkeys(asked_in_the_banner(config), True)}


def decider(app, config):
    """A call that records one "Accept all" decision through the test client, as a browser would send it."""
    client, body = app.test_client(), accept_all(config)

    def decide():
        answer = client.post("/api/v1/consents", json=body, headers={"Origin": BENCH_ORIGIN})
        assert answer.status_code == 201, answer.get_json()
    return decide


def decision_times(app, config, runs=300):
    return timed(decider(app, config), runs)


def run(events=1_000_000):
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite:///{workdir}/stats.sqlite3"
        config = prepare_database(url)
        template = template_rows(url, config)[0]
        purposes = asked_in_the_banner(config)
        started = time.perf_counter()
        fill(f"{workdir}/stats.sqlite3", generated_events(template, events, purposes))
        print(f"generated {events:,} events in {time.perf_counter() - started:.0f} s")
        app = bench_app(url)
        with app.app_context():
            started = time.perf_counter()
            counted = rollup.roll_up(config["id"])[0]
            took = time.perf_counter() - started
            with db.write_transaction() as session:
                operators.set_password(session, "bench", PASSWORD)
        rows.append([f"roll-up of {counted:,} events, once", f"{counted / took:,.0f} events/s", "",
                     f"{took:.0f} s; afterwards only new events are read"])
        client = app.test_client()
        login = client.get("/admin/login").get_data(as_text=True)
        client.post("/admin/login", data={"csrf_token": csrf_token(login), "username": "bench", "password": PASSWORD})
        for days, first in ((30, "2026-10-01"), (366, "2026-01-01")):
            last = (datetime.fromisoformat(first) + timedelta(days=days - 1)).date().isoformat()
            page = f"/admin/sites/{config['id']}/stats?from={first}&to={last}"
            assert client.get(page).status_code == 200
            median, p99 = timed(lambda page=page: client.get(page), 50)
            rows.append([f"Statistics page, {days} days, at {events:,} events", f"{median:.1f} ms", f"{p99:.1f} ms",
                         "target < 200 ms"])
        quiet = decision_times(app, config)
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "consent", "stats", "rollup",
                                   "--worker", "--interval", "0.2"],
                                  env={**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            busy = decision_times(app, config)
        finally:
            worker.terminate()
            worker.wait()
        rows.append(["decision in process, statistics idle", f"{quiet[0]:.2f} ms", f"{quiet[1]:.2f} ms", ""])
        rows.append(["decision in process, roll-up worker every 0.2 s", f"{busy[0]:.2f} ms", f"{busy[1]:.2f} ms",
                     f"{busy[0] / quiet[0]:.2f}× the idle median"])
        db.dispose(app)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    note = machine_note()
    print_table(f"Statistics details ({note})", HEADER, run(args.events))


if __name__ == "__main__":
    main()
