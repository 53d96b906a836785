"""The hash chains of consent events, one per lane of a site (consent/ledger/lanes.py): how a link is computed,
and how the chains are checked.

Checking covers every column the product answers from, not only the links: each column of an event
either is inside its hashed document or must repeat it; each receipt must be the one its event names,
signed (HMAC and Ed25519) over exactly its stored text; and the archived policy versions must still
hash to what the events pin. README.md, "For auditors", lists what stays outside and why.
"""
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String, bindparam, func, or_, select, type_coerce

from consent.ledger import receipts, signing
from consent.proof.verify import VerificationError, canonical_json, lanes_root, public_key_from_jwk, verify_jws
from consent.storage.models import (
    EVENTS,
    RECEIPTS,
    SIGNATURES,
    SITES,
    PolicyVersion,
    in_utc,
)

GENESIS_HASH = "0" * 64


def _time(value):
    """A time from a document (ISO 8601) or a column, as an aware datetime (UTC when it names no zone).

    Anything unreadable is returned as it is, so that it compares unequal rather than stopping the walk.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return in_utc(value) if isinstance(value, datetime) else value


# Every column of consent_events the product reads, and what the hashed document says it holds. A key
# an older document lacks gives None: the column must then be empty.
EVENT_COLUMNS = {
    "lane": lambda document: document.get("lane", 0),  # lane 0's documents name none
    "seq": lambda document: document.get("seq"),
    "event_id": lambda document: document.get("event_id"),
    "site_id": lambda document: document.get("site_id"),
    "prev_hash": lambda document: document.get("prev_hash"),
    "policy_version": lambda document: document.get("policy_version"),
    "action": lambda document: document.get("action"),
    "subject_ref": lambda document: document.get("subject_ref"),
    # `visitor_id` in documents stored before migration 0008.
    "visitor_id": lambda document: document.get("visitor_ref", document.get("visitor_id")),
    "created_at": lambda document: _time(document.get("recorded_at")),
    "subject_verified": lambda document: document.get("subject_verified"),
    "decided_at": lambda document: _time(document.get("decided_at")),
}
# In documents written since issue 12 only. Older events answer no idempotent retry whatever these
# columns hold (decisions._answers), so there they are left unchecked.
PINNED_WHEN_PRESENT = ("idempotency_key", "request_hash")
TIME_COLUMNS = ("created_at", "decided_at")
# What a receipt states about its decision, as receipts.build_receipt derives it from the event
# document (unchanged since migration 0001; keys older documents and receipts lack compare as None).
RECEIPT_FACTS = {
    "eventId": lambda event: event.get("event_id"),
    "siteId": lambda event: event.get("site_id"),
    "policyVersion": lambda event: event.get("policy_version"),
    "consentTimestamp": lambda event: event.get("timestamp"),
    "piiPrincipalId": lambda event: event.get("principal"),
    "policyTextHash": lambda event: event.get("policy_text_hash"),
    "language": lambda event: event.get("language"),
    "collectionMethod": lambda event: f"consent.js {event.get('collection_method')}",
    "principalIdentifiedBy": lambda event: event.get("identified_by"),
    "subjectTokenKeyId": lambda event: event.get("subject_token_kid"),
    "signals": lambda event: event.get("signals"),
    "doNotTrack": lambda event: event.get("do_not_track"),
    "ageStatement": lambda event: event.get("age_statement"),
    "guardianConsent": lambda event: event.get("guardian_consent"),
    "ageThreshold": lambda event: event.get("age_threshold"),
    "guardianAssertedBy": lambda event: event.get("guardian_asserted_by"),
    "decidedAt": lambda event: event.get("decided_at"),
    "linkedReceiptId": lambda event: event.get("linked_receipt_id"),
    "expiresAt": lambda event: event.get("expires_at"),
}

# Each event with its receipt and the receipt's Ed25519 signature: one query, read in batches. Times
# and the flag come raw (type_coerce), so a value edited into something unreadable is reported, not raised.
WALK = select(
    *(column for column in EVENTS.c if column.name not in (*TIME_COLUMNS, "subject_verified")),
    *(type_coerce(EVENTS.c[name], String).label(name) for name in (*TIME_COLUMNS, "subject_verified")),
    RECEIPTS.c.receipt_id, RECEIPTS.c.site_id.label("receipt_site_id"),
    RECEIPTS.c.document.label("receipt_document"), RECEIPTS.c.hmac_signature,
    SIGNATURES.c.kid.label("signature_kid"), SIGNATURES.c.jws,
).select_from(
    EVENTS.outerjoin(RECEIPTS, RECEIPTS.c.event_id == EVENTS.c.event_id)
    .outerjoin(SIGNATURES, SIGNATURES.c.receipt_id == RECEIPTS.c.receipt_id)
)
# A receipt of the site whose event is not in the site's log: deleted, never there, or in another site's.
ORPHAN_RECEIPT = (
    select(RECEIPTS.c.receipt_id, RECEIPTS.c.event_id, EVENTS.c.site_id.label("event_site_id"))
    .select_from(RECEIPTS.outerjoin(EVENTS, EVENTS.c.event_id == RECEIPTS.c.event_id))
    .where(RECEIPTS.c.site_id == bindparam("site_id"),
           or_(EVENTS.c.site_id.is_(None), EVENTS.c.site_id != RECEIPTS.c.site_id))
    .limit(1)
)


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
    head_hash: str  # of a log of several lanes, the Merkle root over their heads (verify.lanes_root)
    first_broken_seq: int | None = None
    problem: str | None = None
    column: str | None = None  # where the break is, e.g. "consent_events.subject_ref"; None for a missing link
    lane: int | None = None  # the lane of the break, in a log of several lanes
    lanes: list = field(default_factory=list)  # [(count, head hash)] of each lane of a log walked whole

    @property
    def intact(self):
        return self.first_broken_seq is None


@dataclass
class _Break:
    seq: int
    column: str | None
    problem: str


def site_lanes(session, site_id):
    """The lanes of a site's log, by its setting (1 for a site not found)."""
    return range(session.scalar(select(SITES.c.lanes).where(SITES.c.id == site_id)) or 1)


def lanes_in_log(session, site_id):
    """Every lane some event of the site names: its setting's, and any other an event names all the same (whatever
    its number: an edit may have put it anywhere), found through the (site, lane, seq) index."""
    configured = site_lanes(session, site_id)
    stray = session.scalars(select(EVENTS.c.lane).where(
        EVENTS.c.site_id == site_id, or_(EVENTS.c.lane < 0, EVENTS.c.lane >= len(configured))).distinct()).all()
    return configured, sorted(stray)


def verify_chain(session, site_id, batch_size=1000):
    """Walk every lane of a site's log whole (verify_lane), then look for receipts whose event is gone; report the
    first break."""
    configured, stray = lanes_in_log(session, site_id)
    if stray:  # walked by no one: an event added or moved out of sight
        lane = stray[0]
        first = session.scalar(select(func.min(EVENTS.c.seq)).where(EVENTS.c.site_id == site_id,
                                                                      EVENTS.c.lane == lane))
        return ChainReport(site_id, 0, GENESIS_HASH, first, f"the site's log has {len(configured)} lane(s), "
                           f"from 0: this event is outside them", "consent_events.lane", lane=lane)
    lanes = []
    for lane in configured:
        report = verify_lane(session, site_id, lane, batch_size)
        if not report.intact:
            report.lane = lane if len(configured) > 1 else None
            return report
        lanes.append((report.events_checked, report.head_hash))
    total = sum(events for events, _head in lanes)
    head = lanes[0][1] if len(lanes) == 1 else lanes_root(lanes)
    orphan = session.execute(ORPHAN_RECEIPT, {"site_id": site_id}).first()
    if orphan and orphan.event_site_id:
        return ChainReport(site_id, total, head, total + 1, f"its event is in the log of site {orphan.event_site_id}",
                           f"receipts.site_id of receipt {orphan.receipt_id}")
    if orphan:
        return ChainReport(site_id, total, head, total + 1,
                           f"names event {orphan.event_id}, which is not in the site's log",
                           f"receipts.event_id of receipt {orphan.receipt_id}")
    return ChainReport(site_id, total, head, lanes=lanes)


def verify_lane(session, site_id, lane=0, batch_size=1000, after=(0, GENESIS_HASH), through_seq=None):
    """Walk one lane of a site's log in order, checking every link, column, receipt and pinned policy; report the
    first break.

    Streams in batches, so a chain of millions of events is checked in constant memory. `after`
    (seq, hash) starts the walk behind a trusted point (a signed checkpoint) instead of the genesis;
    `through_seq` stops it early.
    """
    expected_prev, expected_seq, checked = after[1], after[0] + 1, 0
    query = (WALK.where(EVENTS.c.site_id == site_id, EVENTS.c.lane == lane).order_by(EVENTS.c.seq)
             .execution_options(yield_per=batch_size))
    if after[0]:
        query = query.where(EVENTS.c.seq > after[0])  # from the genesis, rows numbered 0 or less are walked too
    if through_seq is not None:
        query = query.where(EVENTS.c.seq <= through_seq)
    walk = _Walk(session, site_id, lane)
    for row in session.execute(query):
        found = walk.problem(row, expected_prev, expected_seq)
        if found:
            return ChainReport(site_id, checked, expected_prev, found.seq, found.problem, found.column)
        expected_prev, expected_seq, checked = row.event_hash, expected_seq + 1, checked + 1
    return ChainReport(site_id, checked, expected_prev)


@dataclass
class _Walk:
    """What one walk learns as it goes: the key set, the archive's policy hashes, whether receipts are signed yet."""

    session: object
    site_id: str
    lane: int
    keys: dict | None = None
    hmac_valid: object = field(default_factory=receipts.hmac_signature_checker)
    policy_hashes: dict = field(default_factory=dict)
    signed_since: int | None = None  # the first event whose receipt has an Ed25519 signature

    def problem(self, row, expected_prev, expected_seq):
        try:
            document = json.loads(row.document)
        except (TypeError, ValueError):
            document = None
        if not isinstance(document, dict):
            return _Break(row.seq, "consent_events.document", "the stored document is not JSON")
        if text_hash(row.document) != row.event_hash:
            return self._hash_break(row)
        for column, expected in _event_values(document):
            stored = getattr(row, column)
            if column in TIME_COLUMNS:
                stored = _time(stored)
            if stored != expected:
                if column == "seq":
                    return _Break(expected if isinstance(expected, int) else row.seq, "consent_events.seq",
                                  f"the column says {stored}, the hashed document {expected}")
                return _Break(row.seq, f"consent_events.{column}", "differs from the hashed document")
        if "subject_ref" in document and document.get("principal") != _principal(document):
            return _Break(row.seq, "consent_events.document", "its principal is not its subject_ref's or visitor's: "
                                                              "the chain was rewritten")
        if row.seq != expected_seq:
            return _Break(row.seq, None,
                          f"expected event {expected_seq}, found {row.seq}: an event is missing or was inserted")
        if document.get("prev_hash") != expected_prev:
            return _Break(row.seq, None, "the link to the previous event is broken")
        return self._receipt_break(row, document) or self._policy_break(row, document)

    def _hash_break(self, row):
        """Which of the two changed, the document or its hash: the next event's document pins the true hash."""
        following = isinstance(row.seq, int) and self.session.scalar(
            select(EVENTS.c.document).where(EVENTS.c.site_id == self.site_id, EVENTS.c.lane == self.lane,
                                            EVENTS.c.seq == row.seq + 1)
        )
        try:
            pinned = json.loads(following).get("prev_hash") if following else None
        except (TypeError, ValueError, AttributeError):
            pinned = None
        if pinned == text_hash(row.document):
            return _Break(row.seq, "consent_events.event_hash", "differs from the SHA-256 of the document, "
                                                               "which the next event pins")
        return _Break(row.seq, "consent_events.document", "the document does not match its hash: it was edited")

    def _receipt_break(self, row, event):
        if row.receipt_id is None:
            return _Break(row.seq, "receipts.event_id", "no receipt names this event")
        of_receipt = f"of receipt {row.receipt_id}"
        try:
            receipt = json.loads(row.receipt_document)
        except (TypeError, ValueError):
            receipt = None
        if not isinstance(receipt, dict):
            return _Break(row.seq, f"receipts.document {of_receipt}", "the stored receipt is not JSON")
        hmac_valid = self.hmac_valid(row.hmac_signature, receipt)
        jws_problem, header_kid = self._jws_problem(row)
        if not hmac_valid:
            if row.jws is not None and jws_problem:
                return _Break(row.seq, f"receipts.document {of_receipt}", "neither signature verifies over it: "
                                                                         "it was edited")
            return _Break(row.seq, f"receipts.hmac_signature {of_receipt}", "does not verify over the receipt document")
        if receipt.get("consentReceiptID") != row.receipt_id:
            return _Break(row.seq, f"receipts.receipt_id {of_receipt}", "differs from the signed consentReceiptID")
        if row.jws is None and self.signed_since is not None:
            return _Break(row.seq, f"receipt_signatures.jws {of_receipt}",
                          f"missing, though receipts are signed since event {self.signed_since}")
        if row.jws is None and "policy_text_hash" in event:
            return _Break(row.seq, f"receipt_signatures.jws {of_receipt}",
                          "missing: every receipt of its time is signed")
        if jws_problem:
            return _Break(row.seq, f"receipt_signatures.jws {of_receipt}", jws_problem)
        if row.jws is not None:
            if row.signature_kid != header_kid:
                return _Break(row.seq, f"receipt_signatures.kid {of_receipt}",
                              "differs from the key id in the JWS header")
            self.signed_since = self.signed_since or row.seq
        if row.receipt_site_id != row.site_id:
            return _Break(row.seq, f"receipts.site_id {of_receipt}", "differs from its event's site")
        if receipt.get("consentReceiptID") != event.get("receipt_id"):
            return _Break(row.seq, f"receipts.event_id {of_receipt}",
                          f"names this event, whose document names receipt {event.get('receipt_id')}")
        # Both signatures hold, so the receipt is as we wrote it: a fact that disagrees was changed in
        # the event document, whose hashes anyone can recompute; its signed receipt cannot be redone.
        differing = [fact for fact, derived in RECEIPT_FACTS.items() if receipt.get(fact) != derived(event)]
        if _purpose_facts(receipt) != _purpose_facts_of(event):
            differing.append("services[].purposes[] (consentGiven, separateConsent)")
        if differing:
            return _Break(row.seq, "consent_events.document", f"disagrees with its signed receipt {row.receipt_id} "
                                                              f"on {', '.join(differing)}: the chain was rewritten")
        return None

    def _jws_problem(self, row):
        """(why the receipt's JWS does not prove its stored text, or None; the key id its header names)."""
        if row.jws is None:
            return None, None
        if self.keys is None:
            self.keys = _key_set(self.session)
        try:
            kid, payload = verify_jws(row.jws, self.keys)
        except VerificationError as error:
            fresh = _key_set(self.session)  # a key rotated in since the walk began
            if fresh == self.keys:
                return str(error), None
            self.keys = fresh
            return self._jws_problem(row)
        if payload != row.receipt_document.encode("utf-8"):
            return "signs other content than the receipt document", kid
        return None, kid

    def _policy_break(self, row, event):
        pinned = event.get("policy_text_hash")
        if pinned is None:  # events stored before receipts pinned the policy text
            return None
        version = event.get("policy_version")
        if version not in self.policy_hashes:
            policy = self.session.get(PolicyVersion, (self.site_id, version))
            self.policy_hashes[version] = receipts.policy_text_hash(policy) if policy else None
        archived = self.policy_hashes[version]
        if archived == pinned:
            return None
        problem = ("the archived policy differs from the hash receipts carry" if archived
                   else "the policy version is missing from the archive")
        return _Break(row.seq, f"policy_versions of {self.site_id} {version}", problem)


def _event_values(document):
    """(column, the value the hashed document gives it) for every checked column of consent_events."""
    for column, value in EVENT_COLUMNS.items():
        yield column, value(document)
    for column in PINNED_WHEN_PRESENT:
        if column in document:
            yield column, document[column]


def _principal(event):
    """The principal a receipt names for an event: its pseudonym if a user is bound, else its visitor."""
    return receipts.principal_id(event["subject_ref"], EVENT_COLUMNS["visitor_id"](event))


def _purpose_facts(receipt):
    """{purposeId: (consentGiven, separateConsent)} as a receipt states them; None for one not in that shape.

    A purpose on another legal basis than consent states no consentGiven (null); its event holds it as
    processed, true, as events always did for required purposes.
    """
    def given(purpose):
        if purpose["consentGiven"] is None and purpose.get("legalBasis", "consent") != "consent":
            return True
        return purpose["consentGiven"]

    try:
        return {purpose["purposeId"]: (given(purpose), purpose.get("separateConsent", False))
                for service in receipt["services"] for purpose in service["purposes"]}
    except (KeyError, TypeError, AttributeError):
        return None


def _purpose_facts_of(event):
    """_purpose_facts as the event document gives them."""
    choices, separate = event.get("choices"), event.get("separate_consents") or []
    if not isinstance(choices, dict):
        return None
    return {purpose_id: (given, purpose_id in separate) for purpose_id, given in choices.items()}


def _key_set(session):
    """{kid: public key} of every key we ever signed with."""
    keys = {}
    for jwk in signing.jwks(session)["keys"]:
        try:
            keys[jwk["kid"]] = public_key_from_jwk(jwk)
        except VerificationError:
            continue  # a broken key verifies nothing: receipts signed with it are reported
    return keys
