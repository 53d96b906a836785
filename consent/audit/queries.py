"""What auditors ask of the log: a receipt with its proof checked, events by filter, streamed exports.

Every function takes the auditor and refuses (403) a site outside their scope before reading it.
"""
import csv
import io
import json
import re

from flask import Response, stream_with_context
from sqlalchemy import select

from consent.accounts.auditors import require_site
from consent.errors import ChainBroken, ConsentError, NotFound
from consent.ledger import checkpoints, lanes, receipts, signing
from consent.storage.db import get_session
from consent.storage.models import CHAIN_ORDER, ConsentEvent, PolicyVersion, Receipt, Subject, after_in_chain

# Rows read per database round trip, and the size of the pieces an export is sent in: together they
# bound an export's memory, whatever its length.
EXPORT_BATCH = 200
CHUNK_CHARACTERS = 64 * 1024
# Receipt ids are UUIDs; anything else is not looked up (PostgreSQL refuses some characters outright).
RECEIPT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EXPORT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
CSV_COLUMNS = ("seq", "lane", "event_id", "receipt_id", "recorded_at", "subject_ref", "visitor_id", "policy_version",
               "language", "action", "choices", "separate_consents", "signals", "prev_hash", "event_hash")


def receipt_proof(session, auditor, receipt_id):
    """A receipt with both signatures and its chain position verified here, and the policy it was given under."""
    receipt = session.get(Receipt, receipt_id) if RECEIPT_ID.fullmatch(receipt_id) else None
    if receipt is None:
        raise NotFound("No such receipt.")
    require_site(auditor, receipt.site_id)
    document = _parsed(receipt.document)
    if not document:
        raise ChainBroken(f"Receipt {receipt_id} as stored is not a JSON receipt: it was altered in the database.")
    event = receipt.event
    position = checkpoints.verify_position(session, event)
    chain_problem = position.problem
    if _parsed(event.document).get("receipt_id") != receipt_id or document.get("eventId") != event.event_id:
        chain_problem = chain_problem or "the receipt and its event do not name each other"
    verification = {
        "hmac_signature_valid": receipts.hmac_signature_valid(receipt.hmac_signature, document),
        "jws_valid": _jws_valid(session, receipt),
        "chain_position_verified": position.verified and chain_problem is None,
        "chain": {"seq": event.seq, "lane": event.lane, "event_hash": event.event_hash,
                  "anchored_at_count": position.anchor_count, "covered_by_checkpoint": position.covered_by,
                  "problem": chain_problem},
    }
    checks = ("hmac_signature_valid", "jws_valid", "chain_position_verified")
    verification["valid"] = all(verification[check] for check in checks)
    return receipts.receipt_result(receipt.receipt_id, document, receipt.hmac_signature, signing.receipt_jws(receipt),
                                   verification=verification, event=event_summary(event))


def _jws_valid(session, receipt):
    if receipt.ed25519 is None:
        return False
    try:
        return signing.verified_payload(session, receipt.ed25519.jws) == receipt.document.encode("utf-8")
    except ConsentError:
        return False


def _parsed(stored):
    """A stored JSON document, or {} if someone replaced it with something else (the chain check says so)."""
    try:
        document = json.loads(stored)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def policy_shown(session, receipt_document):
    """The archived policy version a receipt was given under."""
    return session.get(PolicyVersion, (receipt_document["siteId"], receipt_document["policyVersion"]))


def event_summary(event):
    """An event for auditors: the columns they filter on plus what the visitor chose.

    `document` is the exact text that was hashed: SHA-256 of it is `event_hash`.
    """
    document = _parsed(event.document)
    return {
        "seq": event.seq,
        "lane": event.lane,
        "event_id": event.event_id,
        "receipt_id": document.get("receipt_id"),
        "recorded_at": document.get("recorded_at"),
        "subject_ref": event.subject_ref,
        "visitor_id": event.visitor_id,
        "subject_verified": bool(event.subject_verified),
        "policy_version": event.policy_version,
        "language": document.get("language"),
        "action": event.action,
        "choices": document.get("choices"),
        "separate_consents": document.get("separate_consents"),
        "signals": document.get("signals"),
        "prev_hash": event.prev_hash,
        "event_hash": event.event_hash,
        "document": event.document,
    }


def _event_query(session, auditor, filters):
    require_site(auditor, filters["site"])
    query = select(ConsentEvent).where(ConsentEvent.site_id == filters["site"])
    subject_ref = filters.get("subject_ref")
    if filters.get("subject"):
        # The site's own user id is only in the subjects mapping; erased subjects find nothing.
        subject = session.get(Subject, (filters["site"], filters["subject"]))
        mapped = subject.pseudonym if subject else ""
        if subject_ref and subject_ref != mapped:
            mapped = ""
        subject_ref = mapped
    if subject_ref is not None:
        query = query.where(ConsentEvent.subject_ref == subject_ref)
    if filters.get("since"):
        query = query.where(ConsentEvent.created_at >= filters["since"])
    if filters.get("until"):
        query = query.where(ConsentEvent.created_at <= filters["until"])
    return query.order_by(*CHAIN_ORDER)


def _matches_purpose(event, filters):
    # Choices live inside the hashed document, which both backends store as text: filtered here.
    if not filters.get("purpose"):
        return True
    return (_parsed(event.document).get("choices") or {}).get(filters["purpose"]) is filters["granted"]


def iter_events(session, auditor, filters, after=0):
    """Every matching event after the position `after` (consent/ledger/lanes.py), in chain order lane by lane, read
    in batches of EXPORT_BATCH."""
    query = _event_query(session, auditor, filters).where(after_in_chain(*lanes.lane_and_seq(after)))
    for event in session.scalars(query.execution_options(yield_per=EXPORT_BATCH)):
        if _matches_purpose(event, filters):
            yield event


def list_events(session, auditor, filters):
    """One page of matching events after the cursor `filters["after"]`, a position (consent/ledger/lanes.py);
    `next_after` is the last one's position, None on the last page."""
    page = []
    for event in iter_events(session, auditor, filters, after=filters["after"]):
        if len(page) == filters["limit"]:
            return page, lanes.position(page[-1]["lane"], page[-1]["seq"])
        page.append(event_summary(event))
    return page, None


def timeline(events):
    """A subject's events as a history: each with the purposes it granted or withdrew against the one before."""
    history, previous = [], {}
    for event in events:
        choices = event["choices"] or {}
        granted = sorted(purpose for purpose, given in choices.items() if given and not previous.get(purpose))
        withdrawn = sorted(purpose for purpose, given in choices.items() if not given and previous.get(purpose))
        history.append({**event, "granted": granted, "withdrawn": withdrawn})
        previous = choices
    return history


def export_download(auditor, filters, site_id):
    """Every matching event as a streamed JSON Lines or CSV download (`filters["format"]`), read as it is sent."""
    file_format = filters["format"]
    response = Response(stream_with_context(export_lines(auditor, filters)), mimetype=EXPORT_TYPES[file_format])
    response.headers["Content-Disposition"] = f'attachment; filename="consent-events-{site_id}.{file_format}"'
    return response


def export_lines(auditor, filters):
    """The matching events as JSON Lines or CSV, in chunks of about CHUNK_CHARACTERS: never all in memory.

    Scope is checked now, so a refusal is still a proper error response. The rows are read while
    the response streams, after the request's own session was closed: the generator takes the
    session of the context stream_with_context restores, which is closed when the stream ends.
    """
    require_site(auditor, filters["site"])
    render = _csv_chunks if filters["format"] == "csv" else _jsonl_chunks

    def events():
        yield from iter_events(get_session(), auditor, filters)

    return render(events())


def _jsonl_chunks(events):
    buffer = io.StringIO()
    for event in events:
        buffer.write(json.dumps(event_summary(event), ensure_ascii=False) + "\n")
        if buffer.tell() >= CHUNK_CHARACTERS:
            yield _drain(buffer)
    yield _drain(buffer)


def _csv_chunks(events):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for event in events:
        row = event_summary(event)
        writer.writerow({column: _csv_cell(row[column]) for column in CSV_COLUMNS})
        if buffer.tell() >= CHUNK_CHARACTERS:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer):
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _csv_cell(value):
    """Nested values as JSON; text a spreadsheet would run as a formula is quoted with a leading '."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
