"""Minors and guardians: the site's age threshold, a guardian's decision recorded by the site's backend,
and the list of minors still waiting for one (README, "Minors and guardians")."""
import json

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import SHOP_ORIGIN, bearer, create_api_key, import_site, load_site_config, set_site_lanes

OPTIONAL_OFF = {"necessary": True, "analytics": False, "advertising": False, "marketing_sms": False,
                "personalized_recommendation": False, "cross_border_transfer": False}
SMS_AND_ANALYTICS = {"necessary": True, "analytics": True, "marketing_sms": True}


@pytest.fixture
def gated(app):
    """The shop with an age gate at PIPL's 14."""
    import_site(app, load_site_config(age_gate=True))
    return app


def guardian(client, key, subject_id, site="shop", **changes):
    body = {"choices": SMS_AND_ANALYTICS, "policy_version": "v1", "language": "zh-CN", **changes}
    return client.post(f"/api/v1/sites/{site}/subjects/{subject_id}/guardian-decision", json=body,
                       headers=bearer(key))


def state(client, key, subject_id):
    return client.get(f"/api/v1/sites/shop/subjects/{subject_id}/consents", headers=bearer(key)).get_json()


def pending(client, key, query=""):
    return client.get(f"/api/v1/sites/shop/guardian-pending{query}", headers=bearer(key))


def pending_cli(app, *more):
    result = app.test_cli_runner().invoke(args=["consent", "guardians", "pending", "--site", "shop", *more])
    assert result.exit_code == 0, result.output
    return [line.split("\t") for line in result.output.splitlines()]


def minor(consent, subject_id, statement="minor"):
    """A signed-in minor's own decision: nothing optional, awaiting a guardian."""
    answer = consent.post(**consent.user(subject_id), age_statement=statement)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def receipt_validator(client):
    return Draft202012Validator(client.get("/api/v1/schemas/receipt.json").get_json())


def test_a_guardians_decision_replaces_pending(gated, client, consent, shop_key):
    own = minor(consent, "pupil-4711")
    before = state(client, shop_key, "pupil-4711")
    assert before["guardian_consent"] == "pending"
    assert not any(p["granted"] for pid, p in before["purposes"].items() if pid != "necessary")

    answer = guardian(client, shop_key, "pupil-4711")
    assert answer.status_code == 201, answer.get_json()
    result = answer.get_json()
    receipt = result["receipt"]
    assert (receipt["guardianConsent"], receipt["guardianAssertedBy"]) == ("given", "site")
    assert (receipt["ageStatement"], receipt["ageThreshold"]) == ("minor", 14)
    assert receipt["collectionMethod"] == "consent.js guardian"
    assert receipt["principalIdentifiedBy"] == "site_api_key"
    # The same principal as the minor's own decision: the user's pseudonym, never their id.
    assert receipt["piiPrincipalId"] == own["receipt"]["piiPrincipalId"] and "pupil-4711" not in json.dumps(receipt)
    assert result["subject_verified"] is True and result["receipt_url"].startswith("http://localhost/api/v1/receipts/")
    assert list(receipt_validator(client).iter_errors(receipt)) == []

    after = state(client, shop_key, "pupil-4711")
    assert after["guardian_consent"] == "given"
    granted = {pid for pid, p in after["purposes"].items() if p["granted"]}
    assert granted == {"necessary", "analytics", "marketing_sms"}
    assert after["purposes"]["marketing_sms"]["receipt_id"] == result["receipt_id"]
    batch = client.post("/api/v1/sites/shop/consents/query", headers=bearer(shop_key),
                        json={"subjects": ["pupil-4711", "nobody"], "purpose": "marketing_sms"}).get_json()
    assert batch["allowed"] == ["pupil-4711"]

    # The minor's other devices get the guardian's decision, as any verified decision reaches a new device.
    device = client.post("/api/v1/sites/shop/subject-decision", json=consent.user("pupil-4711"),
                         headers={"Origin": SHOP_ORIGIN}).get_json()["decision"]
    assert device["receipt_id"] == result["receipt_id"] and device["choices"]["marketing_sms"] is True
    assert (device["age_statement"], device["guardian_consent"]) == ("minor", "given")

    events = consent.stored_events()
    assert [event.action for event in events] == ["pending_guardian", "custom"]
    document = json.loads(events[1].document)
    assert document["collection_method"] == "guardian" and document["asserting_api_key"] == shop_key[:12]


def test_the_receipt_page_says_who_decided(gated, client, consent, shop_key):
    own = minor(consent, "kid")
    page = client.get(f"/receipts/{own['receipt_id']}?token={own['receipt_token']}&lang=en")
    assert "Under 14: waiting for a parent's or guardian's consent." in page.get_data(as_text=True)
    decided = guardian(client, shop_key, "kid").get_json()
    page = client.get(f"/receipts/{decided['receipt_id']}?token={decided['receipt_token']}&lang=en")
    assert "Under 14: decided by a parent or guardian, as the site confirmed." in page.get_data(as_text=True)
    page = client.get(f"/receipts/{decided['receipt_id']}?token={decided['receipt_token']}&lang=zh-CN")
    assert "未满 14 周岁：由父母或其他监护人决定（经网站确认）。" in page.get_data(as_text=True)


def test_threshold_18_refuses_optional_grants_by_minors(app, client, consent, shop_key):
    import_site(app, load_site_config(age_threshold=18))
    no_statement = consent.post(**consent.user("alice")).get_json()["receipt"]  # no age gate: no age, no threshold
    assert "ageThreshold" not in no_statement and no_statement["guardianConsent"] is None
    import_site(app, load_site_config(age_gate=True, age_threshold=18))
    for statement in ("minor", "under_14"):
        refused = consent.post(**consent.user("teen"), age_statement=statement, choices=SMS_AND_ANALYTICS)
        assert refused.status_code == 422
        assert "under 18" in refused.get_json()["detail"]
        assert refused.get_json()["errors"]["choices"]["marketing_sms"] == ["Needs guardian consent."]
    assert len(consent.stored_events()) == 1
    own = minor(consent, "teen")
    assert (own["receipt"]["ageThreshold"], own["receipt"]["guardianConsent"]) == (18, "pending")
    adult = consent.post(**consent.user("grown-up"), age_statement="adult", choices=SMS_AND_ANALYTICS)
    assert adult.status_code == 201 and adult.get_json()["receipt"]["ageThreshold"] == 18
    assert adult.get_json()["receipt"]["guardianConsent"] is None
    page = client.get(f"/receipts/{own['receipt_id']}?token={own['receipt_token']}&lang=en")
    assert "Under 18: waiting for a parent's or guardian's consent." in page.get_data(as_text=True)
    assert guardian(client, shop_key, "teen").status_code == 201
    assert state(client, shop_key, "teen")["purposes"]["marketing_sms"]["granted"] is True


def test_an_anonymous_minor_stays_pending(gated, client, consent, shop_key):
    refused = consent.post(age_statement="minor", choices=SMS_AND_ANALYTICS)
    assert refused.status_code == 422 and "under 14" in refused.get_json()["detail"]
    recorded = consent.post(age_statement="minor")
    assert recorded.status_code == 201
    receipt = recorded.get_json()["receipt"]
    assert receipt["guardianConsent"] == "pending" and receipt["piiPrincipalId"].startswith("visitor:")
    assert not any(p["consentGiven"] for p in receipt["services"][0]["purposes"] if not p["primaryPurpose"])
    assert list(receipt_validator(client).iter_errors(receipt)) == []
    # No user to name: not listed, and no guardian's decision can reach it.
    assert pending(client, shop_key).get_json()["subjects"] == []
    assert consent.stored_events()[0].action == "pending_guardian"


def test_older_widgets_under_14_counts_as_minor(gated, client, consent, shop_key):
    minor(consent, "kid", statement="under_14")
    assert [entry["subject_id"] for entry in pending(client, shop_key).get_json()["subjects"]] == ["kid"]
    assert guardian(client, shop_key, "kid").status_code == 201
    assert state(client, shop_key, "kid")["purposes"]["analytics"]["granted"] is True


def test_pending_list_names_exactly_the_minors_waiting(gated, client, consent, shop_key, app):
    first, second = minor(consent, "kid-1"), minor(consent, "kid-2")
    consent.post(**consent.user("grown-up"), age_statement="adult", choices=SMS_AND_ANALYTICS)
    consent.post(age_statement="minor")  # anonymous
    minor(consent, "erased-kid")
    assert client.delete("/api/v1/sites/shop/subjects/erased-kid", headers=bearer(shop_key)).status_code == 200

    answer = pending(client, shop_key)
    assert answer.status_code == 200
    listed = answer.get_json()
    assert (listed["site_id"], listed["age_threshold"]) == ("shop", 14)
    assert (listed["next_after"], listed["next"]) == (None, None)
    assert [(e["subject_id"], e["receipt_id"]) for e in listed["subjects"]] == [
        ("kid-1", first["receipt_id"]), ("kid-2", second["receipt_id"])]
    assert listed["subjects"][0]["subject_ref"] == first["receipt"]["piiPrincipalId"].removeprefix("subject:")
    assert listed["subjects"][0]["decided_at"] and listed["subjects"][0]["age_statement"] == "minor"
    assert [(row[0], row[3]) for row in pending_cli(app)] == [("kid-1", first["receipt_id"]),
                                                              ("kid-2", second["receipt_id"])]
    assert [row[0] for row in pending_cli(app, "--limit", "1")] == ["kid-1"]

    # Paged: one at a time, following `next`.
    page = pending(client, shop_key, "?limit=1").get_json()
    assert [e["subject_id"] for e in page["subjects"]] == ["kid-1"] and page["next"]
    rest = client.get(page["next"], headers=bearer(shop_key)).get_json()
    assert [e["subject_id"] for e in rest["subjects"]] == ["kid-2"] and rest["next"] is None

    # Once a guardian decided, the minor drops out of the list.
    assert guardian(client, shop_key, "kid-1").status_code == 201
    assert [e["subject_id"] for e in pending(client, shop_key).get_json()["subjects"]] == ["kid-2"]
    assert [row[0] for row in pending_cli(app)] == ["kid-2"]
    # An erased minor cannot get a guardian's decision either.
    assert guardian(client, shop_key, "erased-kid").status_code == 404
    # The minor withdrawing alone afterwards waits for a guardian again.
    assert consent.post(**consent.user("kid-1"), age_statement="minor", choices=OPTIONAL_OFF).status_code == 201
    assert [e["subject_id"] for e in pending(client, shop_key).get_json()["subjects"]] == ["kid-2", "kid-1"]


def test_a_guardian_changes_or_withdraws_their_decision(gated, client, consent, shop_key):
    minor(consent, "kid")
    assert guardian(client, shop_key, "kid").status_code == 201
    withdrawn = guardian(client, shop_key, "kid", choices={"necessary": True})
    assert withdrawn.status_code == 201
    after = state(client, shop_key, "kid")
    assert after["guardian_consent"] == "given"
    assert not any(p["granted"] for pid, p in after["purposes"].items() if pid != "necessary")
    assert consent.stored_events()[-1].action == "reject_all"


def test_a_repeated_idempotency_key_answers_the_first_receipt(gated, client, consent, shop_key):
    minor(consent, "kid")
    first = guardian(client, shop_key, "kid", idempotency_key="guardian-0001")
    again = guardian(client, shop_key, "kid", idempotency_key="guardian-0001")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["receipt_id"] == first.get_json()["receipt_id"]
    other = guardian(client, shop_key, "kid", idempotency_key="guardian-0001", choices={"necessary": True})
    assert other.status_code == 409 and other.get_json()["type"].endswith("/problems/idempotency-key-reused")
    assert len(consent.stored_events()) == 2


HOSTILE_BODIES = [
    # (what, changes to a valid body, status)
    ("choice as a string", {"choices": {"necessary": True, "analytics": "yes"}}, 422),
    ("choice as a number", {"choices": {"necessary": True, "analytics": 1}}, 422),
    ("choices not an object", {"choices": ["necessary"]}, 422),
    ("empty choices", {"choices": {}}, 422),
    ("unknown purpose", {"choices": {"necessary": True, "telepathy": True}}, 422),
    ("required purpose refused", {"choices": {"necessary": False}}, 422),
    ("sensitive purpose without its own step", {"choices": {"necessary": True, "cross_border_transfer": True}}, 422),
    ("do-not-track yet tracking", {"do_not_track": True}, 422),
    ("unknown field", {"guardian_consent": "given"}, 422),
    ("an age statement", {"age_statement": "adult"}, 422),
    ("a collection method", {"collection_method": "banner"}, 422),
    ("language not supported", {"language": "fr"}, 422),
    ("policy version as a number", {"policy_version": 1}, 422),
    ("stale policy version", {"policy_version": "v0"}, 409),
    ("idempotency key with markup", {"idempotency_key": "<script>alert(1)</script>"}, 422),
    ("lone surrogate as a purpose", {"choices": {"necessary": True, "\ud800": True}}, 422),
    ("huge body", {"choices": {"necessary": True}, "padding": "x" * 20000}, 413),
]


@pytest.mark.parametrize(("what", "changes", "status"), HOSTILE_BODIES, ids=[case[0] for case in HOSTILE_BODIES])
def test_hostile_guardian_decisions_are_refused(gated, client, consent, shop_key, what, changes, status):
    minor(consent, "kid")
    answer = guardian(client, shop_key, "kid", **changes)
    assert answer.status_code == status, answer.get_json()
    assert answer.mimetype == "application/problem+json"
    assert len(consent.stored_events()) == 1


def post_raw(client, key, data, content_type="application/json", subject="kid"):
    return client.post(f"/api/v1/sites/shop/subjects/{subject}/guardian-decision", data=data,
                       headers={**bearer(key), "Content-Type": content_type})


@pytest.mark.parametrize("data", [b"", b"[]", b"null", b"\"text\"", b"{", b"\xff\xfe", b"[" * 100000])
def test_bodies_that_are_no_json_object_are_refused(gated, client, consent, shop_key, data):
    minor(consent, "kid")
    answer = post_raw(client, shop_key, data)
    assert answer.status_code in (413, 422) and answer.mimetype == "application/problem+json"
    assert post_raw(client, shop_key, b"{}", content_type="text/plain").status_code == 422
    assert len(consent.stored_events()) == 1


def test_who_and_for_whom_a_guardian_may_decide(app, client, consent, shop_key):
    other_site = load_site_config(id="blog", allowed_origins=["https://blog.example"], age_gate=True)
    import_site(app, other_site)
    blog_key = create_api_key(app, "blog")
    minor(consent, "kid")  # on the shop, which has no age gate yet: a minor's statement, kept as it was
    no_gate = guardian(client, shop_key, "kid")
    assert no_gate.status_code == 409 and no_gate.get_json()["type"].endswith("/problems/guardian-not-expected")
    import_site(app, load_site_config(age_gate=True))
    assert guardian(client, "csk_00000000_nope", "kid").status_code == 401
    assert client.post("/api/v1/sites/shop/subjects/kid/guardian-decision", json={}).status_code == 401
    assert guardian(client, blog_key, "kid").status_code == 403  # another site's key
    assert guardian(client, shop_key, "nobody").status_code == 404
    unknown_site = guardian(client, blog_key, "kid", site="blog")
    assert unknown_site.status_code == 404  # no decision of "kid" on the blog
    assert guardian(client, shop_key, "x" * 129).status_code == 422
    assert guardian(client, shop_key, "a%00b").status_code == 422
    consent.post(**consent.user("grown-up"), age_statement="adult")
    adult = guardian(client, shop_key, "grown-up")
    assert adult.status_code == 409 and "under 14" in adult.get_json()["detail"]
    consent.post(consent.body(subject_id="unproven", subject_token="cst1.x.1.y", age_statement="minor"))
    assert guardian(client, shop_key, "unproven").status_code == 404  # only the browser's word: no verified user
    assert len(consent.stored_events()) == 3


def test_minors_of_several_lanes_are_paged_lane_by_lane(gated, client, consent, shop_key, app):
    set_site_lanes(app, 4)
    kids = [f"kid-{number}" for number in range(8)]
    for kid in kids:
        minor(consent, kid)
    consent.post(**consent.user("grown-up"), age_statement="adult")
    pending_events = sorted((event.lane, event.seq) for event in consent.stored_events()
                            if event.action == "pending_guardian")
    assert len({lane for lane, _seq in pending_events}) > 1, pending_events

    seen, query = [], "?limit=3"
    while True:
        page = pending(client, shop_key, query).get_json()
        seen += [(entry["lane"], entry["seq"], entry["subject_id"]) for entry in page["subjects"]]
        if page["next_after"] is None:
            break
        last = page["subjects"][-1]
        assert page["next_after"] == last["lane"] * 2**32 + last["seq"]
        query = f"?limit=3&after={page['next_after']}"
    assert [(lane, seq) for lane, seq, _kid in seen] == pending_events  # each minor once, lane by lane
    assert sorted(kid for _lane, _seq, kid in seen) == kids
    assert sorted(row[0] for row in pending_cli(app)) == kids  # the CLI pages through them all too


@pytest.mark.parametrize("query", ["?limit=0", "?limit=501", "?limit=abc", "?after=-1", "?after=x", "?limit=1e309",
                                   "?after=99999999999999999999"])
def test_hostile_pending_queries_are_refused(client, shop_key, query):
    answer = pending(client, shop_key, query)
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"


def test_the_pending_list_needs_the_sites_key(app, client, shop_key):
    import_site(app, load_site_config(id="blog", allowed_origins=["https://blog.example"]))
    assert client.get("/api/v1/sites/shop/guardian-pending").status_code == 401
    assert pending(client, create_api_key(app, "blog")).status_code == 403
    result = app.test_cli_runner().invoke(args=["consent", "guardians", "pending", "--site", "nope"])
    assert result.exit_code == 1 and "No site 'nope'" in result.output


def test_the_chain_verifies_after_guardians_decisions(gated, client, consent, shop_key, app):
    for subject_id in ("kid-1", "kid-2"):
        minor(consent, subject_id)
        assert guardian(client, shop_key, subject_id).status_code == 201
    assert guardian(client, shop_key, "kid-1", choices={"necessary": True}).status_code == 201
    result = app.test_cli_runner().invoke(args=["consent", "log", "verify", "--site", "shop"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("shop: intact, 5 events")


def test_webhooks_tell_a_minors_decision_from_a_guardians(gated, client, consent, shop_key, app):
    from consent.sites import webhooks
    from consent.storage import db

    minor(consent, "pupil-9")
    assert guardian(client, shop_key, "pupil-9").status_code == 201
    with app.app_context():
        session = db.get_session()
        own, theirs = (webhooks.payload(session, event) for event in consent.stored_events())
    assert (own["collection_method"], own["guardian_consent"]) == ("banner", "pending")
    assert (theirs["collection_method"], theirs["guardian_consent"]) == ("guardian", "given")
    assert theirs["subject"] == "pupil-9" and theirs["choices"]["marketing_sms"] is True


def test_the_console_lists_the_minors_awaiting_a_guardian(gated, client, consent, shop_key, operator):
    minor(consent, "pupil-77")
    minor(consent, "pupil-78")
    assert guardian(client, shop_key, "pupil-78").status_code == 201
    page = client.get("/admin/sites/shop?lang=en").get_data(as_text=True)
    listed = page[page.index("Minors awaiting a guardian"):page.index("Policy versions")]
    assert "pupil-77" in listed and "pupil-78" not in listed
    assert "Signed-in users under 14" in listed
