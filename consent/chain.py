"""The per-site hash chain of consent events: how a link is computed and how the chain is checked."""
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select

from consent.models import ConsentEvent
from consent.receipts import canonical_json

GENESIS_HASH = "0" * 64
# Columns that repeat a part of the hashed document, and the document key each repeats.
MIRRORED_COLUMNS = {"seq": "seq", "event_id": "event_id", "prev_hash": "prev_hash", "policy_version": "policy_version",
                    "action": "action", "site_id": "site_id"}


def event_hash(document):
    """SHA-256 over the canonical JSON of an event document (which holds the previous hash)."""
    return text_hash(canonical_json(document))


def text_hash(canonical_text):
    """event_hash, for a document already in its canonical JSON form."""
    return hashlib.sha256(canonical_text.encode()).hexdigest()


@dataclass
class ChainReport:
    site_id: str
    events_checked: int
    head_hash: str
    first_broken_seq: int | None = None
    problem: str | None = None

    @property
    def intact(self):
        return self.first_broken_seq is None


def verify_chain(session, site_id, batch_size=1000, after=(0, GENESIS_HASH), through_seq=None):
    """Walk a site's events in order, recomputing every link; report the first one that is broken.

    Streams in batches, so a chain of millions of events is checked in constant memory. `after`
    (seq, hash) starts the walk behind a trusted point (a signed checkpoint) instead of the genesis;
    `through_seq` stops it early.
    """
    expected_prev, expected_seq, checked = after[1], after[0] + 1, 0
    query = (
        select(ConsentEvent)
        .where(ConsentEvent.site_id == site_id, ConsentEvent.seq > after[0])
        .order_by(ConsentEvent.seq)
        .execution_options(yield_per=batch_size)
    )
    if through_seq is not None:
        query = query.where(ConsentEvent.seq <= through_seq)
    for event in session.scalars(query):
        problem = _link_problem(event, expected_prev, expected_seq)
        if problem:
            return ChainReport(site_id, checked, expected_prev, event.seq, problem)
        expected_prev, expected_seq, checked = event.event_hash, expected_seq + 1, checked + 1
    return ChainReport(site_id, checked, expected_prev)


def _link_problem(event, expected_prev, expected_seq):
    if event.seq != expected_seq:
        return f"expected event {expected_seq}, found {event.seq}: an event is missing or was inserted"
    try:
        document = json.loads(event.document)
    except ValueError:
        return "the stored document is not JSON"
    if event_hash(document) != event.event_hash:
        return "the document does not match its hash: it was edited"
    if document.get("prev_hash") != expected_prev:
        return "the link to the previous event is broken"
    for column, key in MIRRORED_COLUMNS.items():
        if getattr(event, column) != document.get(key):
            return f"column {column} differs from the hashed document"
    return None
