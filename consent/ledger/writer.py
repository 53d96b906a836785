"""Linking signed decisions into their sites' hash chains, several per transaction when several wait.

Group commit: a thread with a decision to store queues it, then waits for its worker's turn to
write. Whoever gets the turn writes everything queued by then in one transaction, so a burst of
N decisions costs one lock hand-over and one commit instead of N. A worker with one thread
(gunicorn's sync worker, the default) writes each decision in a transaction of its own; a worker
with threads (CONSENT_THREADS, gthread) batches, which pays where a commit waits long (a database
on another host) more than on one machine's two cores (README, "Performance"). Every decision is
acknowledged only after its transaction committed.

Within a batch each site's decisions are chained in arrival order. A batch that fails (a repeated
idempotency key, say) is rolled back whole and written again one decision at a time, so only the
decision at fault sees an error.
"""
import threading
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import BigInteger, bindparam, exists, func, insert, select
from sqlalchemy.orm import Session

from consent.ledger import checkpoints, lanes
from consent.ledger.chain import GENESIS_HASH, text_hash
from consent.proof.verify import canonical_json
from consent.storage import db, driver
from consent.storage.models import EVENTS, RECEIPTS, SIGNATURES, SITES, SUBJECTS
from consent.storage.operations import DELIVERIES, WEBHOOKS
from consent.subjects import identity

# Built once, compiled once per dialect, and run on the driver's cursor (consent/storage/driver.py).
# Writers of one lane take turns extending it: on PostgreSQL each holds the lane's advisory lock until its
# transaction ends (consent/ledger/lanes.py); SQLite's writer already holds its database's lock.
LOCK_LANE = select(func.pg_advisory_xact_lock(bindparam("lock_key", type_=BigInteger)))
# Read once the lane's lock is granted. Not locked itself: a change of the site's configuration committed
# after this read orders after the decisions it let through, which were checked against the one before.
SITE_STATE = select(
    SITES.c.revision,
    exists().where(WEBHOOKS.c.site_id == SITES.c.id).label("has_webhook"),
).where(SITES.c.id == bindparam("site_id"))
# Read in a statement of its own, after the lock is granted: in PostgreSQL a statement sees what
# was committed when it started, so a head read by the locking statement itself could be one that
# the writer we waited for has just extended.
CHAIN_HEAD = (
    select(EVENTS.c.seq, EVENTS.c.event_hash)
    .where(EVENTS.c.site_id == bindparam("site_id"), EVENTS.c.lane == bindparam("lane"))
    .order_by(EVENTS.c.seq.desc())
    .limit(1)
)
INSERTS = [insert(table) for table in (SUBJECTS, EVENTS, RECEIPTS, SIGNATURES, DELIVERIES)]  # foreign keys' order

BATCH_LIMIT = 200  # decisions per transaction: bounds a transaction's size and a leader's detour


class Repeated(Exception):
    """The decision's idempotency key is stored already: the caller answers with the first receipt."""


class Stale(Exception):
    """The site's configuration changed after the decision was prepared from it: nothing was stored."""


@dataclass(eq=False)
class _Entry:
    decision: object
    finished: bool = False
    stored: dict | None = None
    error: BaseException | None = None


class ChainWriter:
    """One per worker process: the queue of decisions waiting to be written, and the writer's turn."""

    def __init__(self):
        self._waiting = []
        self._waiting_lock = threading.Lock()
        self._turn = threading.Lock()

    def append(self, decision):
        """Store `decision` (a decisions.Decision); its stored rows, once committed.

        Raises Repeated for a stored idempotency key, Stale if the site's configuration changed
        before the write, or whatever error writing it met.
        """
        entry = _Entry(decision)
        with self._waiting_lock:
            self._waiting.append(entry)
        while not entry.finished:
            with self._turn:
                # A writer finishes every entry it takes before it gives up the turn.
                if entry.finished:
                    break
                with self._waiting_lock:
                    batch, self._waiting = self._waiting[:BATCH_LIMIT], self._waiting[BATCH_LIMIT:]
                try:
                    _write(batch)
                finally:
                    _abandon_unfinished(batch)
        if entry.error is not None:
            raise entry.error
        return entry.stored


def _abandon_unfinished(batch):
    """Fail what a writer took but could not finish (it was interrupted), so no waiter waits forever."""
    for entry in batch:
        if not entry.finished:
            entry.error = RuntimeError("The writer was interrupted: the decision may not be stored; send it again.")
            entry.finished = True


def _write(batch):
    """Write `batch` in one transaction, or, if that fails, each of its decisions alone."""
    try:
        with db.write_connection(held=True) as connection:
            outcomes, signed = _link_and_insert(connection, [entry.decision for entry in batch])
    except Exception as error:  # noqa: BLE001 - handed to the thread whose decision it is
        if len(batch) > 1:
            for entry in batch:
                _write([entry])
            return
        [entry] = batch
        # The idempotency key is unique per site: a retry of a stored decision lands here, nothing
        # of it written. Checking first would cost every first try a query for the rare retry.
        if entry.decision.idempotency_key and driver.is_integrity_error(error, db.get_engine(current_app).dialect):
            repeated = Repeated()
            repeated.__cause__ = error  # for the caller to raise, should the key turn out not to be stored
            error = repeated
        entry.error, entry.finished = error, True
        return
    # A checkpoint leaves the database only once it is stored there: after the commit above.
    checkpoints.publish_to_file(signed)
    for entry, outcome in zip(batch, outcomes, strict=True):
        if isinstance(outcome, Exception):
            entry.error = outcome
        else:
            entry.stored = outcome
        entry.finished = True


@dataclass
class _ChainHead:
    seq: int
    event_hash: str


def _lock_lanes(connection, decisions):
    """{site: (revision, has_webhook)} and {(site, lane): _ChainHead} of the lanes `decisions` go to, each lane's
    lock held from now to the transaction's end: all in one round trip."""
    # Sorted, so two writers lock the same lanes in the same order and never deadlock (PostgreSQL). Each
    # lane's head is read by a statement that starts once its lock is granted.
    lanes_written = sorted({(decision.site.id, decision.lane) for decision in decisions})
    site_ids = sorted({site_id for site_id, _lane in lanes_written})
    locking = connection.dialect.name == "postgresql"
    statements = []
    for site_id, lane in lanes_written:
        if locking:
            statements.append((LOCK_LANE, {"lock_key": lanes.lock_key(site_id, lane)}))
        statements.append((CHAIN_HEAD, {"site_id": site_id, "lane": lane}))
    statements += [(SITE_STATE, {"site_id": site_id}) for site_id in site_ids]
    answers = driver.first_rows(connection, statements)
    heads = answers[:-len(site_ids)][1::2] if locking else answers[:-len(site_ids)]
    states = dict(zip(site_ids, answers[-len(site_ids):], strict=True))
    return states, {lane: _ChainHead(*(head or (0, GENESIS_HASH)))
                    for lane, head in zip(lanes_written, heads, strict=True)}


def _link_and_insert(connection, decisions):
    """Give each decision its place in its lane's chain and insert every row.

    Returns one outcome per decision and the checkpoints signed on the way, which the caller
    publishes once the transaction has committed.
    """
    states, heads = _lock_lanes(connection, decisions)
    stored = _stored_subjects(connection, decisions)
    rows = [[] for _ in INSERTS]
    subjects, events, receipts, signatures, deliveries = rows
    due, outcomes = [], []  # (site, its lanes' heads in this batch then) of each checkpoint due
    every = current_app.config["CONSENT_CHECKPOINT_EVERY"]
    for decision in decisions:
        revision, has_webhook = states[decision.site.id]
        if decision.site.revision != revision:
            outcomes.append(Stale())
            continue
        if decision.new_subject:
            subject = (decision.site.id, decision.subject_id)
            if subject in stored:
                pseudonym, lane = stored[subject]
                if lane != decision.lane:  # pinned under another lane count: prepared again, as for a change
                    outcomes.append(Stale())
                    continue
                decision = decision.for_pseudonym(pseudonym)
            else:
                stored[subject] = (decision.event["subject_ref"], decision.lane)  # for this batch's later decisions
                subjects.append({"site_id": decision.site.id, "subject_id": decision.subject_id,
                                 "pseudonym": decision.event["subject_ref"], "lane": decision.lane,
                                 "created_at": decision.created_at})
        head = heads[decision.site.id, decision.lane]
        document = {**decision.event, "seq": head.seq + 1, "prev_hash": head.event_hash}
        text = canonical_json(document)
        head.seq, head.event_hash = document["seq"], text_hash(text)
        events.append(_event_row(decision, document, text, head.event_hash))
        receipt = {"receipt_id": document["receipt_id"], "event_id": document["event_id"],
                   "site_id": decision.site.id, "document": decision.receipt_text,
                   "hmac_signature": decision.hmac_signature, "created_at": decision.created_at}
        receipts.append(receipt)
        signatures.append({"receipt_id": receipt["receipt_id"], "kid": decision.kid, "jws": decision.jws,
                           "created_at": decision.created_at})
        if has_webhook:
            deliveries.append({"site_id": decision.site.id, "event_id": document["event_id"], "status": "pending",
                               "attempts": 0, "next_attempt_at": decision.created_at,
                               "created_at": decision.created_at})
        if every and head.seq % every == 0:  # signed at this very head, as were checkpoints before lanes
            due.append((decision.site, _batch_heads(heads, decision.site.id)))
        outcomes.append(decision)
    # A site this batch extended is also due when its newest checkpoint is older than the interval.
    counted = {site.id for site, _heads in due}
    extended = {outcome.site.id: outcome.site for outcome in outcomes if not isinstance(outcome, Exception)}
    due += [(site, _batch_heads(heads, site_id)) for site_id, site in sorted(extended.items())
            if site_id not in counted and checkpoints.interval_due(connection, site)]
    inserts = [(statement, table_rows) for statement, table_rows in zip(INSERTS, rows, strict=True) if table_rows]
    # Every insert in one round trip, the lanes' locks held meanwhile; the commit in it too unless a checkpoint is
    # to be signed in this transaction first.
    driver.insert_all(connection, inserts, commit=not due)
    signed = []
    if due:
        # Marked as holding the write lock: signing (a first key) writes in it, not in a second transaction.
        with Session(bind=connection, info=dict(db.WRITE_LOCK_HELD)) as session:
            signed = [checkpoints.sign_checkpoint(session, site.id, _all_heads(connection, site, batch_heads))
                      for site, batch_heads in due]
            # This session is never committed (the connection's transaction is): what it still holds pending
            # when it closes is dropped, as the checkpoints' webhook messages once were.
            session.flush()
    return outcomes, signed


def _batch_heads(heads, site_id):
    """{lane: (seq, head hash)} of the lanes of `site_id` this batch extends, as far as linked by now."""
    return {lane: (head.seq, head.event_hash) for (of_site, lane), head in heads.items() if of_site == site_id}


def _all_heads(connection, site, batch_heads):
    """[(count, head hash)] of every lane of `site`: `batch_heads` for the lanes this batch extends, the others as
    committed (a lane's head is always one it had, so a checkpoint signs a state each lane was in)."""
    others = [lane for lane in range(site.lanes) if lane not in batch_heads]
    read = driver.first_rows(connection, [(CHAIN_HEAD, {"site_id": site.id, "lane": lane}) for lane in others])
    found = {**{lane: head or (0, GENESIS_HASH) for lane, head in zip(others, read, strict=True)}, **batch_heads}
    return [tuple(found[lane]) for lane in range(site.lanes)]


def _event_row(decision, document, text, row_hash):
    return {
        "site_id": decision.site.id,
        "lane": decision.lane,
        "seq": document["seq"],
        "event_id": document["event_id"],
        "subject_ref": document["subject_ref"],
        "visitor_id": document["visitor_ref"],
        "policy_version": document["policy_version"],
        "action": document["action"],
        "idempotency_key": document["idempotency_key"],
        "client_hash": decision.client_hash,
        "created_at": decision.created_at,
        "document": text,
        "prev_hash": document["prev_hash"],
        "event_hash": row_hash,
        "subject_verified": decision.subject_verified,
        "decided_at": decision.decided_at,
        "request_hash": document["request_hash"],
    }


def _stored_subjects(connection, decisions):
    """{(site, subject): (pseudonym, lane)} of the subjects whose first decision this is, as far as stored by now.

    A subject's first decision was signed with a fresh pseudonym before the write. If the subject
    got one since (a concurrent first decision, in this worker or another, in the same lane and so
    before this writer's turn), the decision is signed again with that one, so a subject always has
    exactly one pseudonym.
    """
    known = {}
    for site_id in {decision.site.id for decision in decisions if decision.new_subject}:
        asked = sorted({decision.subject_id for decision in decisions
                        if decision.new_subject and decision.site.id == site_id})
        for subject_id, stored in identity.stored_pseudonyms(connection, site_id, asked).items():
            known[site_id, subject_id] = stored
    return known


def init_app(app):
    app.extensions["consent.chain_writer"] = ChainWriter()


def append(decision):
    """Store `decision` through this worker's chain writer (see ChainWriter.append)."""
    return current_app.extensions["consent.chain_writer"].append(decision)
