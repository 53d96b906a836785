"""The auditor API: token auth, site scope, receipt proof, filtered events, streamed exports, checkpoints."""
import csv
import io
import json
import re
import tracemalloc

import pytest

from consent.audit.queries import CHUNK_CHARACTERS
from tests.audit_support import (
    bulk_events,
    drop_append_only_triggers,
    import_other_site,
    make_auditor,
    run_sql,
    stored_document,
)
from tests.conftest import bearer, set_site_lanes, visitor_credential


@pytest.fixture
def token(app):
    import_other_site(app)
    return make_auditor(app, ["shop"])[0]


@pytest.fixture
def other_receipt(consent):
    body = consent.body(site_id="other")
    return consent.post(body=body, origin="https://other.example").get_json()


def get(client, path, api_token, **query):
    return client.get(path, headers=bearer(api_token), query_string=query)


def test_receipt_lookup_verifies_both_signatures_and_the_chain(client, consent, token):
    recorded = consent.post(**consent.user("user-1")).get_json()
    response = get(client, f"/api/v1/audit/receipts/{recorded['receipt_id']}", token)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    proof = response.get_json()
    assert proof["receipt"] == recorded["receipt"] and proof["jws"] == recorded["jws"]
    assert proof["verification"] | {"chain": None} == {
        "hmac_signature_valid": True, "jws_valid": True, "chain_position_verified": True, "valid": True, "chain": None,
    }
    assert proof["verification"]["chain"]["seq"] == 1 and proof["event"]["receipt_id"] == recorded["receipt_id"]


def test_receipt_lookup_reports_tampering(app, client, consent, token):
    recorded = [consent.post().get_json() for _ in range(3)]
    drop_append_only_triggers(app)
    edited = {**stored_document(app, "shop", 1), "language": "en"}
    from consent.proof.verify import canonical_json

    run_sql(app, ("UPDATE consent_events SET document = :document WHERE seq = 1", {"document": canonical_json(edited)}),
            ("UPDATE receipts SET document = :document WHERE receipt_id = :id",
             {"document": canonical_json({**recorded[2]["receipt"], "language": "en"}),
              "id": recorded[2]["receipt_id"]}))
    first = get(client, f"/api/v1/audit/receipts/{recorded[0]['receipt_id']}", token).get_json()["verification"]
    assert first["chain_position_verified"] is False and "event 1" in first["chain"]["problem"] and not first["valid"]
    third = get(client, f"/api/v1/audit/receipts/{recorded[2]['receipt_id']}", token).get_json()["verification"]
    assert third["jws_valid"] is False and third["hmac_signature_valid"] is False and not third["valid"]
    run_sql(app, "UPDATE consent_events SET document = 'not json' WHERE seq = 2",
            ("UPDATE receipts SET document = 'not json' WHERE receipt_id = :id", {"id": recorded[0]["receipt_id"]}))
    second = get(client, f"/api/v1/audit/receipts/{recorded[1]['receipt_id']}", token).get_json()["verification"]
    assert not second["chain_position_verified"] and not second["valid"]
    listed = get(client, "/api/v1/audit/sites/shop/events", token, purpose="analytics").get_json()
    assert listed["events"] == []  # unreadable documents match no purpose, and break nothing
    mangled = get(client, f"/api/v1/audit/receipts/{recorded[0]['receipt_id']}", token)
    assert mangled.status_code == 409 and "altered" in mangled.get_json()["detail"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": "Bearer wrong-token"}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
        ({"Authorization": "Bearer " + "x" * 5000}, 401),
    ],
)
def test_api_refuses_without_a_valid_token(client, consent, token, headers, status):
    recorded = consent.post().get_json()
    for path in (f"/api/v1/audit/receipts/{recorded['receipt_id']}", "/api/v1/audit/sites/shop/events"):
        response = client.get(path, headers=headers)
        assert response.status_code == status and response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_visitor_receipt_token_is_not_an_auditor_token(client, consent, token):
    recorded = consent.post().get_json()
    response = get(client, f"/api/v1/audit/receipts/{recorded['receipt_id']}", recorded["receipt_token"])
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/audit/receipts/{receipt_id}"),
        ("get", "/api/v1/audit/sites/other/events"),
        ("get", "/api/v1/audit/sites/other/events/export?format=csv"),
        ("get", "/api/v1/audit/sites/other/checkpoints"),
        ("post", "/api/v1/audit/sites/other/checkpoints"),
        ("get", "/api/v1/audit/sites/nope/events"),
    ],
)
def test_auditor_of_one_site_cannot_read_another(client, token, other_receipt, method, path):
    response = getattr(client, method)(path.format(receipt_id=other_receipt["receipt_id"]), headers=bearer(token))
    assert response.status_code == 403 and response.mimetype == "application/problem+json"
    assert other_receipt["receipt_id"] not in response.get_data(as_text=True)


def test_unknown_receipt_is_404(client, token):
    assert get(client, "/api/v1/audit/receipts/00000000-0000-0000-0000-000000000000", token).status_code == 404


def test_events_filtered_by_subject_time_and_purpose(app, client, consent, token):
    consent.post(**consent.user("alice"), choices={"necessary": True, "analytics": True})
    consent.post(**consent.user("bob"))
    consent.post(**consent.user("alice"))
    alice = get(client, "/api/v1/audit/sites/shop/events", token, subject="alice").get_json()["events"]
    assert [event["seq"] for event in alice] == [1, 3] and len({event["subject_ref"] for event in alice}) == 1
    by_pseudonym = get(client, "/api/v1/audit/sites/shop/events", token, subject_ref=alice[0]["subject_ref"])
    assert [event["seq"] for event in by_pseudonym.get_json()["events"]] == [1, 3]
    granted = get(client, "/api/v1/audit/sites/shop/events", token, purpose="analytics").get_json()["events"]
    refused = get(client, "/api/v1/audit/sites/shop/events", token, purpose="analytics", granted="false").get_json()
    assert [event["seq"] for event in granted] == [1] and [event["seq"] for event in refused["events"]] == [2, 3]
    assert get(client, "/api/v1/audit/sites/shop/events", token, subject="nobody").get_json()["events"] == []

    bulk_events(app, "shop", 10)  # recorded 2026-01-01 00:00:00 to 00:00:09 UTC
    window = get(client, "/api/v1/audit/sites/shop/events", token,
                 **{"from": "2026-01-01T08:00:03+08:00", "to": "2026-01-01T00:00:05Z"}).get_json()["events"]
    assert [event["seq"] for event in window] == [7, 8, 9]


def test_events_are_paged_by_cursor(app, client, token):
    bulk_events(app, "shop", 25)
    seen, query = [], {"limit": 10}
    while True:
        page = get(client, "/api/v1/audit/sites/shop/events", token, **query).get_json()
        seen += [event["seq"] for event in page["events"]]
        if page["next_after"] is None:
            break
        assert page["next"].endswith(f"after={page['next_after']}")
        query = {"limit": 10, "after": page["next_after"]}
    assert seen == list(range(1, 26))


def decisions_in_lanes(app, consent, count, lane_count=4):
    """`count` visitors' decisions on the shop with its log split into lanes: [(lane, seq)] in chain order."""
    set_site_lanes(app, lane_count)
    for number in range(count):
        assert consent.post(visitor_secret=visitor_credential(number)).status_code == 201
    stored = sorted((event.lane, event.seq) for event in consent.stored_events())
    assert len(stored) == count and len({lane for lane, _seq in stored}) > 1, stored
    return stored


def test_events_of_several_lanes_are_paged_lane_by_lane(app, client, consent, token):
    stored = decisions_in_lanes(app, consent, 12)
    seen, query = [], {"limit": 5}
    while True:
        page = get(client, "/api/v1/audit/sites/shop/events", token, **query).get_json()
        seen += [(event["lane"], event["seq"]) for event in page["events"]]
        if page["next_after"] is None:
            break
        last = page["events"][-1]
        assert page["next_after"] == last["lane"] * 2**32 + last["seq"]  # the last event's position
        query = {"limit": 5, "after": page["next_after"]}
    assert seen == stored  # every event once, in chain order lane by lane
    # After the end of lane 0, whatever its length: a seq part no INTEGER column holds is compared all the same.
    rest = get(client, "/api/v1/audit/sites/shop/events", token, after=2**32 - 1).get_json()["events"]
    assert [(event["lane"], event["seq"]) for event in rest] == [(lane, seq) for lane, seq in stored if lane > 0]
    assert get(client, "/api/v1/audit/sites/shop/events", token, after=2**63 - 1).get_json()["events"] == []


def test_exports_of_several_lanes_name_each_events_lane(app, client, consent, token):
    stored = decisions_in_lanes(app, consent, 8)
    jsonl = get(client, "/api/v1/audit/sites/shop/events/export", token, format="jsonl").get_data(as_text=True)
    assert [(line["lane"], line["seq"]) for line in map(json.loads, jsonl.splitlines())] == stored
    exported = get(client, "/api/v1/audit/sites/shop/events/export", token, format="csv").get_data(as_text=True)
    reader = csv.DictReader(io.StringIO(exported))
    rows = list(reader)
    assert reader.fieldnames[:3] == ["seq", "lane", "event_id"]
    assert [(int(row["lane"]), int(row["seq"])) for row in rows] == stored
    laned = next(event for event in consent.stored_events() if event.lane)
    proof = get(client, f"/api/v1/audit/receipts/{laned.receipt.receipt_id}", token).get_json()
    assert proof["event"]["lane"] == laned.lane and proof["event"]["seq"] == laned.seq
    assert (proof["verification"]["chain"]["lane"], proof["verification"]["chain"]["seq"]) == (laned.lane, laned.seq)


HOSTILE_QUERIES = [
    ("limit too large", {"limit": 501}),
    ("limit zero", {"limit": 0}),
    ("limit not a number", {"limit": "ten"}),
    ("cursor negative", {"after": -1}),
    ("cursor beyond every position", {"after": 2**63}),
    ("time not a time", {"from": "yesterday"}),
    ("time range reversed", {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
    ("purpose with SQL", {"purpose": "x' OR '1'='1"}),
    ("pseudonym not a uuid", {"subject_ref": "../../etc"}),
    ("subject too long", {"subject": "x" * 129}),
    ("unknown filter", {"site_id": "other"}),
    ("format unknown", {"format": "xlsx"}),
    ("granted not boolean", {"granted": "maybe"}),
]


@pytest.mark.parametrize(("what", "query"), HOSTILE_QUERIES, ids=[case[0] for case in HOSTILE_QUERIES])
def test_hostile_filters_are_refused(client, token, what, query):
    for path in ("/api/v1/audit/sites/shop/events", "/api/v1/audit/sites/shop/events/export"):
        response = get(client, path, token, **query)
        assert response.status_code == 422 and response.mimetype == "application/problem+json"
        assert response.get_json()["errors"]


def test_export_jsonl_and_csv(client, consent, token):
    consent.post(**consent.user("alice"), visitor_id="-cmd-calc12", choices={"necessary": True, "analytics": True})
    consent.post(**consent.user("bob"))
    jsonl = get(client, "/api/v1/audit/sites/shop/events/export", token, format="jsonl")
    assert jsonl.mimetype == "application/x-ndjson"
    assert jsonl.headers["Content-Disposition"] == 'attachment; filename="consent-events-shop.jsonl"'
    lines = [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()]
    assert [line["seq"] for line in lines] == [1, 2]
    import hashlib

    assert all(hashlib.sha256(line["document"].encode()).hexdigest() == line["event_hash"] for line in lines)
    exported = get(client, "/api/v1/audit/sites/shop/events/export", token, format="csv", subject="alice")
    assert exported.mimetype == "text/csv"
    [row] = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert row["seq"] == "1" and json.loads(row["choices"])["analytics"] is True
    # The client's own visitor id is never stored (only a keyed hash of a credential), so it cannot
    # smuggle a formula into the spreadsheet; cells that could are escaped (test_csv_cells_cannot_be_formulas).
    assert row["visitor_id"] != "-cmd-calc12" and re.fullmatch(r"[0-9a-f]{32,64}", row["visitor_id"])


@pytest.mark.parametrize("text", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_csv_cells_cannot_be_formulas(text):
    from consent.audit.queries import _csv_cell

    assert _csv_cell(text).startswith("'")


def test_export_of_10000_events_streams_in_constant_memory(app, client, token):
    bulk_events(app, "shop", 10_000)
    response = client.get("/api/v1/audit/sites/shop/events/export?format=jsonl", headers=bearer(token), buffered=False)
    assert response.status_code == 200 and response.is_streamed
    tracemalloc.start()
    try:
        chunks = lines = size = 0
        for chunk in response.response:  # consumed as a client would, chunk by chunk
            chunks, lines, size = chunks + 1, lines + chunk.count(b"\n"), size + len(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        response.close()
    assert lines == 10_000 and chunks >= size // (CHUNK_CHARACTERS * 4)
    print(f"\nexported {size / 1e6:.1f} MB in {chunks} chunks; peak traced memory {peak / 1e6:.1f} MB")
    assert peak < size / 5, f"peak {peak} bytes for an export of {size} bytes: not streamed"


def test_checkpoints_through_the_api(client, consent, token):
    consent.post()
    assert get(client, "/api/v1/audit/sites/shop/checkpoints", token).get_json() == {"checkpoints": []}
    created = client.post("/api/v1/audit/sites/shop/checkpoints", headers=bearer(token))
    assert created.status_code == 201 and created.get_json()["count"] == 1
    again = client.post("/api/v1/audit/sites/shop/checkpoints", headers=bearer(token))
    assert again.status_code == 200 and again.get_json() == created.get_json()
    listed = get(client, "/api/v1/audit/sites/shop/checkpoints", token).get_json()["checkpoints"]
    assert listed == [created.get_json()]
    assert client.get("/api/v1/sites/shop/checkpoints/latest").get_json() == created.get_json()


@pytest.mark.parametrize(
    ("what", "kwargs", "status"),
    [
        ("no token", {"headers": {}}, 401),
        ("body ignored but not JSON", {"data": "{{{", "content_type": "application/json"}, 201),
        ("cross-site form post without token",
         {"headers": {"Origin": "https://evil.example"}, "data": {"a": "b"}}, 401),
    ],
)
def test_hostile_checkpoint_requests(client, consent, token, what, kwargs, status):
    consent.post()
    response = client.post("/api/v1/audit/sites/shop/checkpoints", **{"headers": bearer(token), **kwargs})
    assert response.status_code == status


def test_checkpoint_of_broken_chain_is_refused(app, client, consent, token):
    consent.post()
    consent.post()
    drop_append_only_triggers(app)
    run_sql(app, "UPDATE consent_events SET action = 'x' WHERE seq = 2")
    response = client.post("/api/v1/audit/sites/shop/checkpoints", headers=bearer(token))
    assert response.status_code == 409 and "event 2" in response.get_json()["detail"]
    assert get(client, "/api/v1/audit/sites/shop/checkpoints", token).get_json() == {"checkpoints": []}
