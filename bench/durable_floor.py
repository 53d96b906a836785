"""The durable floor: what a bare Flask view answers when it does only the work a decision cannot skip.

It parses the body the server benchmark posts, builds an event and a receipt as big as a real decision's,
signs the receipt (Ed25519 JWS, and an HMAC), links the event to its site's chain head and inserts the
three rows into the real schema (every index of it), with the same writers' queue, WAL and
synchronous=FULL: one durable commit, then a JSON answer. No limits, no checks, no site or policy
lookups, no subjects, no hooks. What a decision costs beyond this view is everything else we do
(docs/performance.md, "Fifth session"); what this view answers is as far as SQLite on this machine
goes with a durable 201 and nothing else.

    .venv/bin/python -m bench.durable_floor [--workers 2] [--seconds 5]
"""
import argparse
import fcntl
import hashlib
import hmac
import json
import os
import sqlite3
import tempfile
import uuid
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, jsonify, request

from consent.proof.verify import b64url_encode, canonical_json

app = Flask(__name__)
KEY = Ed25519PrivateKey.generate()
MAC_KEY = os.urandom(32)
KID = "durable-floor"
JWS_HEADER = b64url_encode(canonical_json({"alg": "EdDSA", "kid": KID}).encode())  # the same for every receipt
# A real decision's receipt is about 5.8 KB of canonical JSON (the demo site's purposes and texts), its JWS
# about 7.9 KB. This view's receipt is its event (about 500 bytes) and this text, so the commit writes as many
# pages, overflow pages included (tests/test_durable_floor.py holds the sizes to a tenth of a real decision's).
POLICY_TEXT = "x" * 5_250
_database = None


def database():
    """The worker's connection, opened as consent/storage/db.py opens SQLite's."""
    global _database
    if _database is None:
        _database = sqlite3.connect(os.environ["BENCH_DURABLE_DB"], isolation_level=None, timeout=30)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
            _database.execute(f"PRAGMA {pragma}")
    return _database


@app.post("/durable")
def durable():
    body, now = request.get_json(), datetime.now(UTC).isoformat()
    site, key = body["site_id"], body.get("idempotency_key")
    event = {"event_id": str(uuid.uuid4()), "receipt_id": str(uuid.uuid4()), "site_id": site, "recorded_at": now,
             "policy_version": body["policy_version"], "choices": body["choices"], "idempotency_key": key,
             "visitor_ref": hmac.new(MAC_KEY, body["visitor_secret"].encode(), "sha256").hexdigest()[:32],
             "request_hash": hmac.new(MAC_KEY, canonical_json(body).encode(), "sha256").hexdigest()}
    receipt = canonical_json({**event, "policy": POLICY_TEXT})
    signing_input = JWS_HEADER + "." + b64url_encode(receipt.encode())
    jws = signing_input + "." + b64url_encode(KEY.sign(signing_input.encode()))
    mac = hmac.new(MAC_KEY, receipt.encode(), "sha256").hexdigest()
    connection = database()
    queue = os.open(os.environ["BENCH_DURABLE_DB"] + "-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(queue, fcntl.LOCK_EX)
        connection.execute("BEGIN IMMEDIATE")
        seq, prev_hash = connection.execute(
            "SELECT seq, event_hash FROM consent_events WHERE site_id = ? AND lane = 0 ORDER BY seq DESC LIMIT 1",
            (site,)).fetchone() or (0, "0" * 64)
        document = canonical_json({**event, "seq": seq + 1, "prev_hash": prev_hash})
        connection.execute(
            "INSERT INTO consent_events (site_id, lane, seq, event_id, visitor_id, policy_version, action,"
            " idempotency_key, created_at, document, prev_hash, event_hash, subject_verified, decided_at,"
            " request_hash) VALUES (?, 0, ?, ?, ?, ?, 'accept_all', ?, ?, ?, ?, ?, 0, ?, ?)",
            (site, seq + 1, event["event_id"], event["visitor_ref"], event["policy_version"], key, now, document,
             prev_hash, hashlib.sha256(document.encode()).hexdigest(), now, event["request_hash"]))
        connection.execute(
            "INSERT INTO receipts (receipt_id, event_id, site_id, document, hmac_signature, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", (event["receipt_id"], event["event_id"], site, receipt, mac, now))
        connection.execute("INSERT INTO receipt_signatures (receipt_id, kid, jws, created_at) VALUES (?, ?, ?, ?)",
                           (event["receipt_id"], KID, jws, now))
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        os.close(queue)  # releases the queue
    return jsonify(receipt_id=event["receipt_id"], receipt=json.loads(receipt), jws=jws, signature=mac), 201


def prepare(path):
    """Migrate `path` and import the demo site, as for the server benchmark; register this view's key id."""
    from bench.common import prepare_database

    config = prepare_database(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO signing_keys (kid, public_key, created_at) VALUES (?, ?, ?)",
                           (KID, b64url_encode(KEY.public_key().public_bytes_raw()), datetime.now(UTC).isoformat()))
    connection.close()
    return config


def main(workers=2, seconds=5):
    """Answers a second and workers' CPU ms an answer of the durable view, under gunicorn with `workers` sync
    workers and the server benchmark's wrk."""
    from bench.common import BENCH_ORIGIN, wrk_with_cpu
    from bench.floor import serve

    with tempfile.TemporaryDirectory() as workdir:
        path = f"{workdir}/durable.sqlite3"
        config = prepare(path)
        process, url = serve(workers, "bench.durable_floor:app", {**os.environ, "BENCH_DURABLE_DB": path})
        try:
            post = ["post", BENCH_ORIGIN, config["id"], config["policy"]["version"]]
            wrk_with_cpu(process.pid, f"{url}/durable", post, 16, 1)  # each worker opens its connection
            figures = wrk_with_cpu(process.pid, f"{url}/durable", post, 16, seconds)
        finally:
            process.terminate()
            process.wait()
        with sqlite3.connect(path) as connection:
            figures["stored"] = connection.execute("SELECT count(*) FROM consent_events").fetchone()[0]
        connection.close()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=5)
    arguments = parser.parse_args()
    result = main(arguments.workers, arguments.seconds)
    print(f"durable floor, {arguments.workers} workers: {result['ok_per_s']:.0f} answers/s, "
          f"{result['cpu_ms']:.2f} ms of workers' CPU an answer, {result['stored']} events stored")
