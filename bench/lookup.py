"""Receipt lookup with 1,000,000 stored events: GET /api/v1/receipts/<id>?token= through gunicorn.

The events, receipts and their Ed25519 signatures are generated with bulk inserts (copies of one
real decision with fresh ids, durability pragmas off while generating), so neither their hash chain
nor their signatures are valid: the lookup reads neither, it returns them.

    .venv/bin/python -m bench.lookup [--events 1000000] [--backends sqlite,postgresql]
"""
import argparse
import sqlite3
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import psycopg
from sqlalchemy import func, select

from bench.common import (
    BENCH_ORIGIN,
    ROOMY_LIMITS,
    SECRET_KEY,
    bench_app,
    durable_postgres,
    machine_note,
    ms,
    prepare_database,
    print_table,
    wrk,
)
from consent.ledger import receipts
from consent.storage import db
from consent.storage.models import ConsentEvent, Receipt, ReceiptSignature
from tests.server import GunicornServer

BATCH = 50_000
SAMPLE = 1000
EVENT_COLUMNS = ["site_id", "seq", "event_id", "subject_ref", "visitor_id", "policy_version", "action",
                 "idempotency_key", "client_hash", "created_at", "document", "prev_hash", "event_hash"]
RECEIPT_COLUMNS = ["receipt_id", "event_id", "site_id", "document", "hmac_signature", "created_at"]
SIGNATURE_COLUMNS = ["receipt_id", "kid", "jws", "created_at"]


def template_rows(database_url, config):
    """One real decision, recorded through the API, whose rows the generated ones copy."""
    app = bench_app(database_url)
    body = {"site_id": config["id"], "policy_version": config["policy"]["version"], "language": "en",
            "choices": {"necessary": True, "analytics": True}, "subject_id": "template-subject"}
    response = app.test_client().post("/api/v1/consents", json=body, headers={"Origin": BENCH_ORIGIN})
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        session = db.get_session()
        rows = tuple({c: getattr(session.scalars(select(model)).one(), c) for c in columns}
                     for model, columns in ((ConsentEvent, EVENT_COLUMNS), (Receipt, RECEIPT_COLUMNS),
                                            (ReceiptSignature, SIGNATURE_COLUMNS)))
    db.dispose(app)
    return rows


def generated_batches(templates, count):
    """Batches of event, receipt and signature rows: the templates with new ids, seq 2, 3, ..."""
    template_event, template_receipt, template_signature = templates
    old_event_id, old_receipt_id = template_event["event_id"], template_receipt["receipt_id"]
    for start in range(2, count + 2, BATCH):
        events, receipts_, signatures = [], [], []
        for seq in range(start, min(start + BATCH, count + 2)):
            event_id, receipt_id = str(uuid.uuid4()), str(uuid.uuid4())
            event = {**template_event, "seq": seq, "event_id": event_id, "visitor_id": f"visitor-{seq}",
                     "idempotency_key": None,
                     "document": template_event["document"].replace(old_event_id, event_id)
                     .replace(old_receipt_id, receipt_id)}
            receipt = {**template_receipt, "receipt_id": receipt_id, "event_id": event_id,
                       "document": template_receipt["document"].replace(old_event_id, event_id)
                       .replace(old_receipt_id, receipt_id)}
            events.append(tuple(event[c] for c in EVENT_COLUMNS))
            receipts_.append(tuple(receipt[c] for c in RECEIPT_COLUMNS))
            # The signature is the template's (it will not verify for this receipt; the lookup only returns it).
            signatures.append(tuple({**template_signature, "receipt_id": receipt_id}[c] for c in SIGNATURE_COLUMNS))
        yield (("consent_events", EVENT_COLUMNS, events), ("receipts", RECEIPT_COLUMNS, receipts_),
               ("receipt_signatures", SIGNATURE_COLUMNS, signatures))


def fill_sqlite(path, batches):
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous=OFF")  # generating test data, not recording decisions
    for tables in batches:
        connection.execute("BEGIN")
        for table, columns, rows in tables:
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [tuple(v.isoformat(" ") if hasattr(v, "isoformat") else v for v in row) for row in rows])
        connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def fill_postgres(conninfo, batches):
    with psycopg.connect(conninfo) as connection:
        connection.execute("SET synchronous_commit = off")  # generating test data, not recording decisions
        for tables in batches:
            with connection.cursor() as cursor:
                for table, columns, rows in tables:
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            connection.commit()
        # What autovacuum and the checkpointer would have done by now in a database that grew over months: a
        # lookup measured in the middle of their aftermath of one bulk load would time them, not the lookup.
        connection.autocommit = True
        connection.execute("VACUUM (ANALYZE)")
        connection.execute("CHECKPOINT")


def lookup_paths(database_url, site_id):
    app = bench_app(database_url)
    with app.app_context():
        session = db.get_session()
        stored = session.scalar(select(func.count()).select_from(ConsentEvent))
        ids = session.scalars(select(Receipt.receipt_id).order_by(func.random()).limit(SAMPLE)).all()
        paths = [f"/api/v1/receipts/{rid}?token={receipts.access_token(rid)}" for rid in ids]
    db.dispose(app)
    return stored, paths


def measure(backend, database_url, fill, events, workdir, seconds):
    config = prepare_database(database_url)
    templates = template_rows(database_url, config)
    started = time.monotonic()
    fill(generated_batches(templates, events - 1))
    generated_s = time.monotonic() - started
    stored, paths = lookup_paths(database_url, config["id"])
    paths_file = Path(workdir) / f"receipts-{backend}.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    with GunicornServer(database_url, workers=2, SECRET_KEY=SECRET_KEY, **ROOMY_LIMITS,
                        log_path=Path(workdir) / f"gunicorn-{backend}.log") as server:
        wrk(server.url + "/", ["get", str(paths_file)], 2, 1)  # warm the page cache a little
        steady = wrk(server.url + "/", ["get", str(paths_file)], 4, seconds, rate=100)
        full = wrk(server.url + "/", ["get", str(paths_file)], 8, seconds)
    if steady["not_ok"] or full["not_ok"]:
        raise SystemExit(f"lookups refused:{steady['refusals']}{full['refusals']}")
    row = [backend, f"{stored:,}", f"{generated_s:.0f} s", f"{ms(steady['p50_us'])} / {ms(steady['p99_us'])}",
           f"{full['ok_per_s']:.0f}", f"{ms(full['p50_us'])} / {ms(full['p99_us'])}"]
    return row, {"stored": stored, "steady": steady, "full": full}


def run(events=1_000_000, backends=("sqlite", "postgresql"), seconds=5):
    """Generate and measure on each backend; returns the table rows and the figures by backend.

    Each backend's database is deleted before the next one is generated: at a million events each fills
    much of the page cache, and the second one's lookups would otherwise wait on the disk for pages the
    first one pushed out (PostgreSQL's p99 was 36 ms that way, 4 ms alone: issue 18).
    """
    results = {}
    for backend in backends:
        with ExitStack() as stack:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="consent-lookup-"))
            if backend == "sqlite":
                path = f"{workdir}/lookup.sqlite3"
                results[backend] = measure(backend, f"sqlite:///{path}", lambda b, p=path: fill_sqlite(p, b),
                                           events, workdir, seconds)
            else:
                cluster = stack.enter_context(durable_postgres())
                cluster.execute("CREATE DATABASE lookup")
                conninfo = f"host=127.0.0.1 port={cluster.port} user=consent dbname=lookup"
                results[backend] = measure(backend, cluster.url("lookup"), lambda b, c=conninfo: fill_postgres(c, b),
                                           events, workdir, seconds)
    rows = [row for row, _figures in results.values()]
    return rows, {backend: figures for backend, (_row, figures) in results.items()}


HEADER = ["backend", "events stored", "generated in", "lookup p50 / p99 ms at 100/s", "lookups/s (8 connections)",
          "p50 / p99 ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    note = machine_note()
    rows, _results = run(args.events, args.backends.split(","), args.seconds)
    print_table(f"Receipt lookup at {args.events:,} stored events ({note})", HEADER, rows)


if __name__ == "__main__":
    main()
