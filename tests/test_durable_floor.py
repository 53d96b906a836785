"""bench/durable_floor.py, the view a decision's throughput is compared with in `make bench`: it must do the
durable write a decision does, rows as big and every index, or the comparison flatters us."""
import hashlib
import sqlite3

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bench import durable_floor
from bench.common import bench_app, prepare_database
from bench.stats import accept_all, decider
from consent.proof.verify import b64url_decode


@pytest.fixture
def floor_db(tmp_path, monkeypatch):
    path = str(tmp_path / "durable.sqlite3")
    config = durable_floor.prepare(path)
    monkeypatch.setenv("BENCH_DURABLE_DB", path)
    monkeypatch.setattr(durable_floor, "_database", None)
    yield path, config
    if durable_floor._database is not None:
        durable_floor._database.close()


def rows(path, query):
    with sqlite3.connect(path) as connection:
        found = connection.execute(query).fetchall()
    connection.close()
    return found


def test_the_durable_floor_chains_signs_and_stores_what_a_decision_stores(floor_db):
    path, config = floor_db
    body = {**accept_all(config), "visitor_secret": "visitor-credential-1", "idempotency_key": "k1"}
    client = durable_floor.app.test_client()
    answers = [client.post("/durable", json={**body, "idempotency_key": f"k{n}"}) for n in range(3)]
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    events = rows(path, "SELECT seq, document, prev_hash, event_hash FROM consent_events ORDER BY seq")
    assert [seq for seq, *_ in events] == [1, 2, 3]
    previous = "0" * 64
    for _seq, document, prev_hash, event_hash in events:
        assert prev_hash == previous and hashlib.sha256(document.encode()).hexdigest() == event_hash
        previous = event_hash
    assert rows(path, "SELECT count(*) FROM receipts JOIN receipt_signatures USING (receipt_id)") == [(3,)]
    jws = answers[0].get_json()["jws"]
    signing_input, signature = jws.rsplit(".", 1)
    Ed25519PublicKey.from_public_bytes(durable_floor.KEY.public_key().public_bytes_raw()).verify(
        b64url_decode(signature), signing_input.encode())


def test_a_repeated_idempotency_key_is_refused_by_the_same_unique_index_as_a_decisions(floor_db):
    path, config = floor_db
    body = {**accept_all(config), "visitor_secret": "visitor-credential-1", "idempotency_key": "same"}
    client = durable_floor.app.test_client()
    assert client.post("/durable", json=body).status_code == 201
    assert client.post("/durable", json=body).status_code == 500  # the IntegrityError, rolled back
    assert rows(path, "SELECT count(*) FROM consent_events") == [(1,)]
    assert client.post("/durable", json={**body, "idempotency_key": "other"}).status_code == 201


def test_the_durable_floor_writes_rows_as_big_as_a_real_decisions(floor_db, tmp_path):
    path, config = floor_db
    body = {**accept_all(config), "visitor_secret": "visitor-credential-1", "idempotency_key": "k1"}
    assert durable_floor.app.test_client().post("/durable", json=body).status_code == 201
    url = f"sqlite:///{tmp_path}/decisions.sqlite3"
    real_config = prepare_database(url)
    decider(bench_app(url, CONSENT_REQUEST_LOG=False), real_config)()
    sizes = "SELECT length(r.document), length(s.jws) FROM receipts r JOIN receipt_signatures s USING (receipt_id)"
    [(floor_receipt, floor_jws)] = rows(path, sizes)
    [(real_receipt, real_jws)] = rows(f"{tmp_path}/decisions.sqlite3", sizes)
    assert abs(floor_receipt - real_receipt) < 0.1 * real_receipt
    assert abs(floor_jws - real_jws) < 0.1 * real_jws
