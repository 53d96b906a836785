"""Group commit: decisions that wait together are written in one transaction, each still checked alone."""
import threading
import time

import pytest
from sqlalchemy import event, func, select

from consent.ledger import signing
from consent.ledger.chain import verify_chain
from consent.ledger.checkpoints import covered_heads, site_checkpoints, verify_log
from consent.storage import db
from consent.storage.models import ConsentEvent, Subject
from tests.conftest import ConsentActions, import_site, load_site_config

QUEUED = 6


def signing_app(app_with):
    """An app whose signing key exists already, as after its first decision."""
    app = app_with()
    with app.app_context(), db.write_transaction() as session:
        signing.create_key(session)
    return app


def commits_counted(app):
    """A list that gains an entry for every write transaction committed on the app's engine."""
    commits = []

    def count(connection):
        if connection.get_execution_options().get("write_lock"):
            commits.append(1)

    event.listen(db.get_engine(app), "commit", count)
    return commits


def post_while_the_writer_is_busy(app, bodies):
    """POST every body from its own thread while the worker's writer turn is taken, then let them go.

    They all queue behind the turn; whoever gets it next writes the whole queue. Returns the answers
    in the order of `bodies`.
    """
    writer = app.extensions["consent.chain_writer"]
    answers = [None] * len(bodies)

    def post(index):
        try:
            answers[index] = ConsentActions(app.test_client(), app).post(**bodies[index])
        except BaseException as error:  # noqa: BLE001 - the test app propagates what would be a 500
            answers[index] = error

    threads = [threading.Thread(target=post, args=(index,)) for index in range(len(bodies))]
    with writer._turn:  # as if another thread were writing right now
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(writer._waiting) < len(bodies):
            assert time.monotonic() < deadline, "the decisions never queued"
            time.sleep(0.005)
    for thread in threads:
        thread.join(30)
    return answers


def stored(app, model, *where):
    with app.app_context():
        return db.get_session().scalar(select(func.count()).select_from(model).where(*where))


def test_decisions_waiting_together_share_one_transaction_and_one_chain(app_with):
    app = signing_app(app_with)
    commits = commits_counted(app)
    answers = post_while_the_writer_is_busy(app, [{"visitor_id": f"visitor-{n:04d}"} for n in range(QUEUED)])
    assert [answer.status_code for answer in answers] == [201] * QUEUED
    assert len(commits) == 1
    with app.app_context():
        report = verify_chain(db.get_session(), "shop")
    assert report.intact and report.events_checked == QUEUED
    assert len({answer.get_json()["receipt_id"] for answer in answers}) == QUEUED


def test_a_repeated_key_in_a_batch_fails_only_its_own_decision(app_with):
    app = signing_app(app_with)
    bodies = [{"visitor_secret": f"visitor-credential-{n:04d}-abcdefgh"} for n in range(QUEUED)]
    bodies[2]["idempotency_key"] = "same-key-twice-in-one-batch"
    bodies[4] = dict(bodies[2])  # the same request sent twice
    answers = post_while_the_writer_is_busy(app, bodies)
    statuses = [answer.status_code for answer in answers]
    assert sorted(statuses) == [200] + [201] * (QUEUED - 1)
    assert answers[2].get_json()["receipt_id"] == answers[4].get_json()["receipt_id"]
    assert stored(app, ConsentEvent) == QUEUED - 1
    with app.app_context():
        assert verify_chain(db.get_session(), "shop").intact


def test_a_subjects_first_decisions_in_one_batch_share_one_pseudonym(app_with):
    app = signing_app(app_with)
    actions = ConsentActions(app.test_client(), app)
    answers = post_while_the_writer_is_busy(app, [actions.user("alice"), actions.user("alice"), actions.user("bob")])
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    principals = [answer.get_json()["receipt"]["piiPrincipalId"] for answer in answers]
    assert principals[0] == principals[1] != principals[2]
    assert stored(app, Subject) == 2
    # Each receipt was signed with the pseudonym it carries (re-signed if it had to change).
    jwks = app.test_client().get("/.well-known/jwks.json").get_json()
    from consent.proof.verify import verify_receipt
    for answer in answers:
        verify_receipt(answer.get_json(), jwks)


@pytest.mark.parametrize("hostile", [
    {"policy_version": "not-the-current-one"},
    {"choices": {"necessary": False}},
    {"site_id": "no-such-site"},
])
def test_a_refused_decision_among_queued_ones_stores_nothing_of_its_own(app_with, hostile):
    app = signing_app(app_with)
    bodies = [{"visitor_id": f"visitor-{n:04d}"} for n in range(QUEUED - 1)]
    answers = post_while_the_writer_is_busy_or_refused(app, bodies, hostile)
    assert [answer.status_code for answer in answers[:-1]] == [201] * (QUEUED - 1)
    assert answers[-1].status_code in (404, 409, 422)
    assert stored(app, ConsentEvent) == QUEUED - 1


def post_while_the_writer_is_busy_or_refused(app, bodies, hostile):
    """The queued bodies, and one hostile body posted meanwhile (refused before it could queue)."""
    refused = []

    def hostile_post():
        refused.append(ConsentActions(app.test_client(), app).post(**hostile))

    writer = app.extensions["consent.chain_writer"]
    with writer._turn:
        thread = threading.Thread(target=hostile_post)
        thread.start()
        thread.join(30)
    return [*post_while_the_writer_is_busy(app, bodies), *refused]


def test_a_policy_published_while_decisions_wait_refuses_them(app_with):
    app = signing_app(app_with)
    writer = app.extensions["consent.chain_writer"]
    answers = []

    def post():
        answers.append(ConsentActions(app.test_client(), app).post())

    with writer._turn:
        thread = threading.Thread(target=post)
        thread.start()
        while not writer._waiting:
            time.sleep(0.005)
        config = load_site_config()
        config["policy"]["version"] = "v2"
        import_site(app, config)
    thread.join(30)
    assert answers[0].status_code == 409
    assert answers[0].get_json()["type"].endswith("/stale-policy-version")
    assert stored(app, ConsentEvent) == 0


def test_decisions_taken_by_an_interrupted_writer_fail_instead_of_waiting_forever(app_with, monkeypatch):
    app = signing_app(app_with)

    def interrupted(_batch):
        raise SystemExit("worker shutting down")  # a BaseException: nothing below the writer catches it

    monkeypatch.setattr("consent.ledger.writer._write", interrupted)
    answers = post_while_the_writer_is_busy(app, [{"visitor_id": f"visitor-{n:04d}"} for n in range(3)])
    # The thread that took the turn met the interruption; the others were told, not left waiting.
    assert sorted(type(answer).__name__ for answer in answers) == ["RuntimeError", "RuntimeError", "SystemExit"]
    assert all("send it again" in str(answer) for answer in answers if isinstance(answer, RuntimeError))
    assert stored(app, ConsentEvent) == 0


@pytest.mark.parametrize("lanes", [1, 3])
def test_a_batch_crossing_checkpoint_counts_signs_each_at_its_own_head(app_with, lanes):
    """A checkpoint falls due at every CONSENT_CHECKPOINT_EVERY-th event of a lane, and is signed at that head even
    when the batch writes on past it: a batch of seven decisions with a checkpoint every 2 signs 3 in one lane."""
    app = app_with(CONSENT_CHECKPOINT_EVERY=2)
    with app.app_context(), db.write_transaction() as session:
        signing.create_key(session)
    import_site(app, load_site_config(lanes=lanes))
    answers = post_while_the_writer_is_busy(app, [{"visitor_secret": f"visitor-credential-{n:04d}-0123456789abcdef"}
                                                  for n in range(7)])
    assert [answer.status_code for answer in answers] == [201] * 7
    with app.app_context():
        session = db.get_session()
        heads = {(event.lane, event.seq): event.event_hash for event in session.scalars(select(ConsentEvent))}
        signed = [covered_heads(checkpoint) for checkpoint in site_checkpoints(session, "shop")]
        assert verify_log(session, "shop").checkpoints_checked == len(signed)
    due = sorted((lane, seq) for lane, seq in heads if seq % 2 == 0)
    assert len(signed) == len(due) > 0
    # Each checkpoint holds the head at which it fell due, and the heads of the batch's other lanes at that moment.
    assert sorted({(lane, count) for covered in signed for lane, (count, _head) in covered.items()
                   if (lane, count) in due and count}) == due
    for covered in signed:
        for lane, (count, head) in covered.items():
            assert head == heads.get((lane, count), "0" * 64)
