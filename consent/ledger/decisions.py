"""Recording consent decisions: check them against the site's current policy, chain, sign, store.

Every decision becomes one append-only event. Each event's document carries the hash of the
previous event of the same site, so an auditor can detect any edited, removed or reordered record.
"""
import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select

from consent import clock
from consent.config import derived_hmac
from consent.errors import (
    DecisionTooOld,
    IdempotencyConflict,
    InvalidRequest,
    OriginNotAllowed,
    SiteChanged,
    StalePolicyVersion,
    SubjectNotProven,
)
from consent.http.clients import client_hash
from consent.ledger import lanes, lifetime, receipts, signing, site_facts, writer
from consent.ledger.choices import awaits_guardian, checked_choices, classify
from consent.ledger.site_facts import PublishedPolicy
from consent.proof.verify import canonical_json
from consent.storage.db import SessionOnFirstUse, storable
from consent.storage.models import ConsentEvent, Receipt, SiteOrigin, in_utc
from consent.subjects import identity
from consent.subjects.rights import latest_verified_choices

REQUEST_PURPOSE = b"consent.request"  # derived_hmac's purpose for request hashes
# What proves who sent a request, left out of its hash: a retry may come with a renewed token or another key.
CREDENTIALS = ("subject_token", "visitor_secret", "asserting_api_key")

def origin_is_allowed(session, origin, site_id=None):
    """Whether `origin` may embed the widget of `site_id` (or of any site, for CORS preflight)."""
    if not origin or not storable(origin):  # a NUL: PostgreSQL would refuse the lookup, not find nothing
        return False
    query = select(SiteOrigin.site_id).where(SiteOrigin.origin == origin)
    if site_id is not None:
        query = query.where(SiteOrigin.site_id == site_id)
    return session.execute(query.limit(1)).first() is not None


@dataclass(frozen=True)
class Principal:
    """Who a decision is by, as far as proven (consent/subjects/identity.py).

    `subject_id` is set only for a proven user; `visitor_ref` is the keyed hash of the visitor's
    credential (a fresh random one when none was sent: nobody can then add to that history).
    `identified_by` is what proved it, printed in the receipt: "subject_token", "history_link" (a
    link we issued to a proven visitor or user), "visitor_credential", or "none".
    """

    visitor_ref: str
    identified_by: str
    subject_id: str | None = None
    kid: str | None = None
    subject_problem: str | None = None


def decision_principal(session, site, data, choices, now):
    """The Principal of a decision sent by a browser or a backend: nothing is taken on its word."""
    def withdrawal_only():
        previous = latest_verified_choices(session, site.id, data["subject_id"], now)
        return not _granted_beyond(choices, previous)

    checked = identity.check_subject(session, site.id, data["subject_id"], data["subject_token"], now, withdrawal_only)
    secret = data["visitor_secret"]
    visitor_ref = identity.visitor_ref(site.id, secret) if secret else identity.unlinkable_visitor_ref()
    if checked.subject_id is not None:
        method = "subject_token"
    else:
        method = "visitor_credential" if secret else "none"
    return Principal(visitor_ref, method, checked.subject_id, checked.kid, checked.problem)


def _granted_beyond(choices, previous):
    """Whether `choices` grant any purpose that `previous` (None: no decision) does not."""
    return any(given and not (previous or {}).get(purpose_id) for purpose_id, given in choices.items())


def decision_time(claimed_ms, now, grants_optional):
    """When the visitor decided, by their own clock where it can be trusted; see README, "Identifying your users".

    A time ahead of ours counts as now (a clock cannot win by running fast). A time older than
    CONSENT_DECISION_MAX_AGE_SECONDS is refused for a grant, which could otherwise override a
    withdrawal made since; a decision that grants nothing optional is then ordered as now.
    """
    if claimed_ms is None:
        return now
    claimed = datetime.fromtimestamp(claimed_ms / 1000, UTC)
    if claimed > now:
        return now
    if now - claimed > timedelta(seconds=current_app.config["CONSENT_DECISION_MAX_AGE_SECONDS"]):
        if grants_optional:
            raise DecisionTooOld("This decision was made too long ago to be recorded now; ask the visitor again.")
        return now
    return claimed


def record_consent(data, origin, client_ip=None, header_signals=None, principal=None):
    """Store one decision and return its receipt; a repeated idempotency key returns the first one.

    Returns (result, created) where result holds receipt_id, receipt, signature, jws and receipt_token.
    `principal` is given by the service's own pages, which proved the visitor their own way;
    otherwise it is worked out from the request (decision_principal).
    Nothing is written unless every check passes. Checking, building and signing the receipt all
    happen before the write: the write lock covers only linking the event into the chain and
    storing it (consent/ledger/writer.py), so concurrent decisions wait for each other as little as possible.
    """
    session = SessionOnFirstUse()
    for attempt in (1, 2):
        # The worker's copy of the site first; once more from the database if the writer found it stale.
        if attempt == 2:
            site_facts.forget(data["site_id"])
        decision, principal_used = _prepare(session, data, origin, client_ip, header_signals, principal)
        # End this request's read transaction, if it read anything, before queueing for the write lock: a
        # reader held open while waiting would keep SQLite from ever recycling its write-ahead log.
        if session.in_transaction():
            session.commit()
        try:
            stored = writer.append(decision)
            break
        except writer.Stale:
            continue
        except writer.Repeated as repeated:
            return _repeated(session, data, decision, principal_used, repeated)
    else:
        raise SiteChanged("The site's configuration changed while this decision was recorded; send it again.")
    result = _result(stored.receipt_id, stored.receipt, stored.hmac_signature, stored.jws, stored.receipt_text)
    result.update(_subject_outcome(principal_used))
    return result, True


def _prepare(session, data, origin, client_ip, header_signals, principal):
    """The checked, signed Decision of a request and who it is by, from the worker's copy of the site."""
    facts = site_for_origin(session, data["site_id"], origin, data["policy_version"], confirmed_by_write=True)
    site, policy = facts.site, facts.policy
    _check_policy_version(data["policy_version"], policy.version)
    if site.age_gate and data["age_statement"] is None:
        raise InvalidRequest("This site asks every visitor for an age statement.", {"age_statement": ["Required."]})
    choices = checked_choices(policy.purposes, data, site.age_threshold, policy.own_step)
    now = clock.now()
    if principal is None:
        principal = decision_principal(session, site, data, choices, now)
    grants_optional = any(choices[p["id"]] for p in policy.purposes if not p["required"])
    if data["links_receipt_id"]:
        decided_at = _linked_decision_time(session, site, data, choices, principal)
    else:
        decided_at = decision_time(data["decided_at"], now, grants_optional)
    # The site's lifetime as it is now applies to this decision for good: its expiry is signed into it.
    expires_at = lifetime.expiry(decided_at, site.consent_lifetime_months)
    if grants_optional and lifetime.has_expired(expires_at, now):
        # A grant that is over before it arrives (sent late, or a link to an old decision) would count as
        # no decision anyway; refused, so that the widget asks again instead of applying it.
        raise DecisionTooOld("This decision has expired already; ask the visitor again.")
    stored = None
    if principal.subject_id is not None:
        stored = identity.stored_pseudonyms(session.connection(), site.id, [principal.subject_id]).get(
            principal.subject_id)
    decision = Decision.prepare(session, site, policy, data, choices, header_signals or {}, client_hash(client_ip),
                                stored, principal, now, decided_at, expires_at)
    return decision, principal


def _repeated(session, data, decision, principal, repeated):
    """The answer to a decision whose idempotency key is stored already: the first receipt, for the same request."""
    existing = _receipt_for_key(session, decision.site.id, data["idempotency_key"])
    if existing is None:  # not the key after all: another constraint refused the decision
        raise repeated.__cause__ from None
    # As payment APIs do: the key answers only the request it was first sent with (its subject
    # token aside, which may have been renewed meanwhile). Another request gets nothing. What the
    # request was is read from the hashed document: an event stored before documents held it
    # (README, "For auditors") answers every reuse with 409, whatever its columns say.
    if not _answers(existing, data["idempotency_key"], decision.request_hash):
        raise IdempotencyConflict("This idempotency key was used for another request; use a new key.") from None
    result = _result(existing.receipt_id, json.loads(existing.document), existing.hmac_signature, existing.jws,
                     existing.document)
    # What the first request bound, which a token expired since cannot undo.
    bound = bool(existing.subject_verified)
    result.update(subject_verified=bound, subject_problem=None if bound else principal.subject_problem)
    return result, False


def _subject_outcome(principal):
    """What the page learns about the user it named: bound to the decision, or why not."""
    return {"subject_verified": principal.subject_id is not None, "subject_problem": principal.subject_problem}


def _linked_decision_time(session, site, data, choices, principal):
    """Check a "link" decision (an anonymous decision made again as the user who has since logged in).

    Only the visitor who made the linked decision (their credential) can link it, only to a proven
    user, and only as it was: same policy version, same choices. The link keeps the time of the
    decision it links, so it does not outrank what the user decided elsewhere since.
    """
    if principal.subject_id is None:
        raise SubjectNotProven("Linking a decision to a user needs a valid subject token.")
    linked = session.execute(
        select(ConsentEvent.visitor_id, ConsentEvent.document, ConsentEvent.decided_at, ConsentEvent.created_at)
        .join(Receipt, Receipt.event_id == ConsentEvent.event_id)
        .where(Receipt.receipt_id == data["links_receipt_id"], ConsentEvent.site_id == site.id)
    ).first()
    secret = data["visitor_secret"]
    if linked is None or not secret or linked.visitor_id not in identity.visitor_refs(site.id, secret):
        raise InvalidRequest("links_receipt_id names no decision of this visitor on this site.",
                             {"links_receipt_id": ["Not this visitor's receipt."]})
    document = json.loads(linked.document)
    if document["policy_version"] != data["policy_version"] or document["choices"] != choices:
        raise InvalidRequest("A link repeats the linked decision exactly: same policy version, same choices.",
                             {"links_receipt_id": ["Other choices or policy version."]})
    return in_utc(linked.decided_at or linked.created_at)


@dataclass(frozen=True)
class Decision:
    """A checked decision with its signed receipt, ready to be linked into its site's chain.

    `event` is the event document but for its place in its lane's chain (seq, prev_hash), which only
    the writer knows; nothing signed depends on that place, so signing happens before the write.
    """

    site: object  # the row of site_facts.SITE_COLUMNS the decision was prepared from
    policy: PublishedPolicy
    subject_id: str | None  # only ever a proven user (Principal)
    new_subject: bool  # no pseudonym was stored for subject_id when the decision was prepared
    lane: int  # the lane of the site's log it goes to (consent/ledger/lanes.py)
    idempotency_key: str | None
    client_hash: str | None
    created_at: datetime
    decided_at: datetime
    request_hash: str | None  # None for a request without an idempotency key
    event: dict
    receipt: dict
    receipt_text: str  # the receipt's canonical JSON, as stored and signed
    hmac_signature: str
    kid: str
    jws: str

    @property
    def receipt_id(self):
        return self.event["receipt_id"]

    @property
    def subject_verified(self):
        return self.subject_id is not None

    @classmethod
    def prepare(cls, session, site, policy, data, choices, header_signals, hashed_client, stored, principal, now,
                decided_at, expires_at):
        """`stored`: the (pseudonym, lane) of the decision's user, if they have one already."""
        # Only a retry under the same idempotency key is ever answered by it: without a key, nothing to hash.
        hashed_request = request_hash(data, principal) if data["idempotency_key"] else None
        event = {
            "event_id": str(uuid.uuid4()),
            "receipt_id": str(uuid.uuid4()),
            "site_id": site.id,
            "recorded_at": now.isoformat(),
            "timestamp": int(now.timestamp()),
            "decided_at": decided_at.isoformat(),
            "expires_at": expires_at.isoformat(),
            "visitor_ref": principal.visitor_ref,
            "identified_by": principal.identified_by,
            "subject_token_kid": principal.kid,
            "subject_verified": principal.subject_id is not None,
            "linked_receipt_id": data["links_receipt_id"],
            "policy_version": policy.version,
            "language": data["language"],
            "choices": choices,
            "separate_consents": sorted(data["separate_consents"]),
            # A guardian's decision (consent/subjects/guardians.py) is classified as any other.
            "action": classify(policy.purposes, choices, data["age_statement"] if awaits_guardian(data) else None,
                               policy.own_step),
            "age_statement": data["age_statement"],
            **_age_facts(site, data),
            "collection_method": data["collection_method"],
            "do_not_track": data["do_not_track"],
            # A signal counts when the page reported it or the browser sent it with this request.
            "signals": {name: bool(data["signals"][name] or header_signals.get(name)) for name in ("dnt", "gpc")},
            # The archived policy exactly as shown, and what an idempotent retry is answered by: all
            # inside the hashed document, so `log verify` catches an edit of the columns or the archive.
            "policy_text_hash": policy.text_hash,
            "idempotency_key": data["idempotency_key"],
            "request_hash": hashed_request,
        }
        new_subject = principal.subject_id is not None and stored is None
        if stored is not None:
            pseudonym, lane = stored
        elif new_subject:
            # Stored with the event, unless the subject got one meanwhile (in this lane, which is theirs).
            pseudonym, lane = str(uuid.uuid4()), lanes.subject_lane(site.id, principal.subject_id, site.lanes)
        else:
            pseudonym, lane = None, lanes.visitor_lane(principal.visitor_ref, site.lanes)
        if lane:  # lane 0's documents name no lane: as every document before lanes existed
            event["lane"] = lane
        unsigned = cls(site, policy, principal.subject_id, new_subject, lane, data["idempotency_key"], hashed_client,
                       now, decided_at, hashed_request, event, receipt={}, receipt_text="",
                       hmac_signature="", kid="", jws="")
        return unsigned._signed(session, pseudonym)

    def for_pseudonym(self, pseudonym):
        """This decision, by a subject whose pseudonym turned out to be `pseudonym`, signed anew."""
        return self._signed(SessionOnFirstUse(), pseudonym, new_subject=False)

    def _signed(self, session, pseudonym, **changes):
        event = {**self.event, "subject_ref": pseudonym,
                 "principal": receipts.principal_id(pseudonym, self.event["visitor_ref"])}
        receipt, receipt_text = receipts.receipt_and_text(self.site, self.policy, event)
        # The second signature, Ed25519, is the one anyone can check offline with our public keys.
        kid, jws = signing.sign_text(session, receipt_text)
        return replace(self, event=event, receipt=receipt, receipt_text=receipt_text,
                       hmac_signature=receipts.sign_receipt(receipt_text), kid=kid, jws=jws, **changes)


def _age_facts(site, data):
    """What an event records about age: the site's threshold when an age statement was made, and
    whether a guardian's consent is pending or was given (asserted by the site's backend, with its key)."""
    if data["age_statement"] is None:
        return {"guardian_consent": None}
    if awaits_guardian(data):
        return {"age_threshold": site.age_threshold, "guardian_consent": "pending"}
    if data.get("guardian_consent") == "given":
        return {"age_threshold": site.age_threshold, "guardian_consent": "given", "guardian_asserted_by": "site",
                "asserting_api_key": data["asserting_api_key"]}
    return {"age_threshold": site.age_threshold, "guardian_consent": None}


def site_for_origin(session, site_id, origin, policy_version=None, confirmed_by_write=False):
    """A site (site_facts.SiteFacts), once `origin` (or SERVICE_PAGE) is shown to embed it.

    `confirmed_by_write`: the worker's copy, for a caller whose write the chain writer confirms by the site's
    revision (record_consent). Anyone else reads the site anew: nothing would catch an origin removed since.
    """
    if confirmed_by_write:
        facts = site_facts.site_facts(session, site_id, origin, policy_version)
    else:
        facts = site_facts.read_site_facts(session, site_id)
    if not facts.allow(origin):
        raise OriginNotAllowed(f"Origin {origin!r} may not record consent for site {facts.site.id!r}.")
    return facts


def _check_policy_version(asked, current):
    if asked != current:
        raise StalePolicyVersion.between(asked, current)


def request_hash(data, principal):
    """A keyed hash of what a request asked for, less its subject token (or API key) and with the visitor's
    credential as its keyed hash: an idempotency key answers only the same request again.

    Keyed (HMAC under a key derived from SECRET_KEY), because the hash is in the event document that
    auditors export, and the request holds the site's user id: a plain hash would let anyone test
    guessed ids against it, even after the user was erased.
    """
    asked = {key: value for key, value in data.items() if key not in CREDENTIALS}
    asked["visitor"] = principal.visitor_ref if data["visitor_secret"] else None
    return derived_hmac(current_app.config["SECRET_KEY"], REQUEST_PURPOSE, canonical_json(asked))


def _answers(existing, idempotency_key, hashed_request):
    """Whether the stored event `existing` (_receipt_for_key) was made by exactly the request `hashed_request`."""
    try:
        document = json.loads(existing.event_document)
    except ValueError:
        return False
    pinned = isinstance(document, dict) and document.get("idempotency_key") == idempotency_key
    return pinned and document.get("request_hash") == hashed_request == existing.request_hash


def _receipt_for_key(session, site_id, idempotency_key):
    return session.execute(
        receipts.RECEIPT_WITH_JWS.add_columns(ConsentEvent.request_hash, ConsentEvent.subject_verified,
                                              ConsentEvent.document.label("event_document"))
        .join(ConsentEvent, ConsentEvent.event_id == Receipt.event_id)
        .where(ConsentEvent.site_id == site_id, ConsentEvent.idempotency_key == idempotency_key)
    ).first()


class DecisionAnswer(dict):
    """The answer to a decision, knowing its receipt's canonical JSON as stored and signed: a JSON response
    can embed that text instead of encoding the receipt once more (consent/visitor/api.py)."""

    def __init__(self, fields, receipt_text):
        super().__init__(fields)
        self.receipt_text = receipt_text


def _result(receipt_id, receipt, signature, jws, receipt_text):
    """The answer to a decision; with its expiry in the two forms the widget keeps (a receipt older than
    lifetimes, answering a repeated idempotency key, gives the default one: lifetime.receipt_expiry)."""
    fields = receipts.receipt_result(receipt_id, receipt, signature, jws,
                                     receipt_token=receipts.access_token(receipt_id),
                                     **lifetime.expiry_fields(lifetime.receipt_expiry(receipt)))
    return DecisionAnswer(fields, receipt_text)
