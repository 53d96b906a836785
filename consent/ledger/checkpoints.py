"""Signed checkpoints (tree heads) of each site's event log, and verifying the log against them.

A checkpoint is a JWS over {site_id, lane, count, head_hash, time} (those signed before lanes were
named have no lane, and keep verifying as signed). Once anyone has pinned one, the
first `count` events can no longer be rewritten unnoticed, not even by someone who recomputes
every hash after an edit: the head would no longer match the signed one. Checkpoints are made
by `flask consent log checkpoint`, automatically while consent is recorded (every
CONSENT_CHECKPOINT_EVERY events, and when the newest is older than
CONSENT_CHECKPOINT_INTERVAL_SECONDS), and when an auditor asks for a fresh one (POST .../checkpoints).

Someone able to write the database could delete the newest events together with the checkpoints
that cover them, so each checkpoint also leaves the database once, where it is signed: a line in
CONSENT_CHECKPOINT_FILE, a message to the site's webhook, and the public list anyone can mirror.
`log verify --checkpoints FILE` then proves the log still holds everything such a copy has seen.
"""
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from consent.errors import ChainBroken, ConsentError
from consent.ledger import signing
from consent.ledger.chain import GENESIS_HASH, ChainReport, verify_chain
from consent.proof.verify import VerificationError, strict_loads, verify_jws
from consent.sites.configs import get_site
from consent.storage.models import Checkpoint, ConsentEvent, in_utc, utcnow
from consent.storage.operations import SiteWebhook, WebhookDelivery

# Today each site's log is one hash chain: lane 0. Checkpoints sign the lane they cover, so a log
# split into several chains later needs no new checkpoint format.
LANE = 0


def checkpoint_payload(checkpoint):
    """The signed fields, the time always in UTC: SQLite hands times back without their zone,
    PostgreSQL in its session's zone, and the signed text must come out the same either way."""
    signed_at = in_utc(checkpoint.signed_at)
    payload = {"site_id": checkpoint.site_id, "count": checkpoint.count, "head_hash": checkpoint.head_hash,
               "time": signed_at.astimezone(UTC).isoformat()}
    if checkpoint.lane is not None:  # signed since migration 0009; older checkpoints signed no lane
        payload["lane"] = checkpoint.lane
    return payload


def checkpoint_json(checkpoint):
    """A checkpoint as published: the signed fields, the key id and the JWS that proves them."""
    return {**checkpoint_payload(checkpoint), "kid": checkpoint.kid, "jws": checkpoint.jws}


def sign_checkpoint(session, site_id, count, head_hash):
    """Sign and store a tree head the caller has just computed or verified, and queue it for the site's webhook.

    The caller appends it to the checkpoint file once its transaction has committed (publish_to_file).
    """
    checkpoint = Checkpoint(site_id=site_id, lane=LANE, count=count, head_hash=head_hash, signed_at=utcnow())
    checkpoint.kid, checkpoint.jws = signing.sign(session, checkpoint_payload(checkpoint))
    session.add(checkpoint)
    session.flush()  # its id, which the webhook message names
    _queue_for_webhook(session, checkpoint)
    _clock_notes()[site_id] = checkpoint.signed_at + _interval()
    return checkpoint


def checkpoint_now(session, site_id):
    """A checkpoint of the site's current head, after verifying the whole chain; ChainBroken if it is not intact.

    Returns (checkpoint, created): the latest checkpoint, not created, if no event was added since.
    """
    get_site(session, site_id)
    report = verify_log(session, site_id)
    if not report.intact:
        raise ChainBroken(f"Site {site_id!r}: {broken_at(report)}")
    latest = latest_checkpoint(session, site_id)
    if latest is not None and latest.count == report.events_checked:
        return latest, False
    return sign_checkpoint(session, site_id, report.events_checked, report.head_hash), True


def sites_with_events(session):
    """The ids of the sites whose log holds at least one event."""
    return session.scalars(select(ConsentEvent.site_id).group_by(ConsentEvent.site_id)).all()


def site_checkpoints(session, site_id):
    """A site's checkpoints, oldest first."""
    query = select(Checkpoint).where(Checkpoint.site_id == site_id)
    return session.scalars(query.order_by(Checkpoint.count, Checkpoint.id))


def latest_checkpoint(session, site_id):
    return session.scalars(
        select(Checkpoint).where(Checkpoint.site_id == site_id).order_by(Checkpoint.count.desc(), Checkpoint.id.desc())
    ).first()


def checkpoints_after(session, site_id, after, limit):
    """(checkpoints of more than `after` events, oldest first, about `limit` of them; the `after` of the next
    page, or None). A page never ends inside a run of checkpoints of one count, which `after` could not resume."""
    query = select(Checkpoint).where(Checkpoint.site_id == site_id).order_by(Checkpoint.count, Checkpoint.id)
    page = session.scalars(query.where(Checkpoint.count > after).limit(limit)).all()
    if len(page) < limit:
        return page, None
    last = page[-1]
    page += session.scalars(query.where(Checkpoint.count == last.count, Checkpoint.id > last.id)).all()
    return page, last.count


# --- Checkpoints by time: a quiet site's newest events are pinned within an interval too ---------


def _interval():
    return timedelta(seconds=current_app.config["CONSENT_CHECKPOINT_INTERVAL_SECONDS"])


def _clock_notes():
    """{site_id: when this worker should next ask whether a checkpoint is due}, kept per worker process."""
    return current_app.extensions.setdefault("consent.checkpoint_clock", {})


def interval_due(connection, site_id):
    """Whether a site just written to needs a checkpoint because its newest one (or, with none yet, its
    first event) is older than CONSENT_CHECKPOINT_INTERVAL_SECONDS (0: never).

    Costs no query until this worker's note says one may be due: then one, which also learns of
    checkpoints other workers signed meanwhile. So a worker asks at most once per site and interval.
    """
    if not _interval():
        return False
    now, notes = utcnow(), _clock_notes()
    if site_id in notes and now < notes[site_id]:
        return False
    newest = connection.scalar(select(func.max(Checkpoint.signed_at)).where(Checkpoint.site_id == site_id))
    if newest is None:
        newest = connection.scalar(
            select(ConsentEvent.created_at).where(ConsentEvent.site_id == site_id, ConsentEvent.seq == 1)
        )
    newest = in_utc(newest) if newest is not None else now
    due = now - newest >= _interval()
    notes[site_id] = now + _interval() if due else newest + _interval()
    return due


# --- Publication outside the database: the checkpoint file and the site's webhook ---------------


def _queue_for_webhook(session, checkpoint):
    """A pending delivery of the checkpoint to the site's webhook, in the transaction that stores it: sent once."""
    if session.get(SiteWebhook, checkpoint.site_id) is not None:
        session.add(WebhookDelivery(site_id=checkpoint.site_id, checkpoint_id=checkpoint.id, status="pending",
                                    attempts=0, next_attempt_at=checkpoint.signed_at))


def checkpoint_file():
    """Where checkpoints are appended (CONSENT_CHECKPOINT_FILE, default instance/checkpoints.jsonl); None: nowhere."""
    configured = current_app.config.get("CONSENT_CHECKPOINT_FILE")
    if configured is None:
        return Path(current_app.instance_path) / "checkpoints.jsonl"
    return Path(configured) if configured else None


def publish_to_file(signed):
    """Append checkpoints just committed to the checkpoint file, one JSON line each, synced to disk.

    Called by whoever signed them, after the commit and only then: a line must never name a head
    the database does not hold. One write() per call under O_APPEND keeps lines of concurrent
    workers whole. A failure is logged, never raised: the decisions are stored and answered, and
    each checkpoint is still in the database, queued for the webhook and in the public list, from
    which an outside copy can be completed.
    """
    if not signed:
        return
    path = checkpoint_file()
    if path is None:
        return
    try:
        lines = "".join(json.dumps(checkpoint_json(checkpoint), sort_keys=True, separators=(",", ":")) + "\n"
                        for checkpoint in signed).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            while lines:
                lines = lines[os.write(descriptor, lines):]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except Exception:  # noqa: BLE001 - the decisions are committed: raising would have them written again
        current_app.logger.exception(
            "checkpoints %s not appended to %s: copy them from GET /api/v1/sites/<site>/checkpoints",
            ", ".join(f"{checkpoint.site_id}:{checkpoint.count}" for checkpoint in signed), path,
        )


def checkpoint_problem(session, checkpoint, keys=None):
    """Why a checkpoint cannot be trusted (bad signature, fields not the signed ones), or None.

    Stored checkpoints are checked with the keys in the database; an outside copy with `keys`
    ({kid: JWK} of a key set kept outside), if given.
    """
    name = "" if checkpoint.id is None else f"checkpoint {checkpoint.id}: "  # an outside copy is named by its caller
    try:
        if keys is None:
            signed = json.loads(signing.verified_payload(session, checkpoint.jws))
        else:
            signed = json.loads(verify_jws(checkpoint.jws, keys)[1])
    except ConsentError as error:
        return f"{name}{error.detail}"
    except VerificationError as error:
        return f"{name}{error}"
    if signed != checkpoint_payload(checkpoint):
        return f"{name}the {'published' if checkpoint.id is None else 'stored'} fields differ from the signed ones"
    return None


@dataclass
class LogReport(ChainReport):
    """verify_chain's report, extended with the checks against signed checkpoints."""

    checkpoints_checked: int = 0


def verify_log(session, site_id):
    """Verify the chain link by link, then that every signed checkpoint still matches it.

    The chain walk names the first event that was edited, removed or reordered. The checkpoints
    catch what the walk cannot: a tail cut off, or a rewrite with every hash recomputed (then the
    first broken event lies after the last checkpoint that still matches).
    """
    chain = verify_chain(session, site_id)
    report = LogReport(**asdict(chain))
    if not report.intact:
        return report
    last_good = 0
    for checkpoint in site_checkpoints(session, site_id):
        broken_seq, problem = _checkpoint_mismatch(session, checkpoint, chain.events_checked, last_good)
        if problem:
            report.first_broken_seq, report.problem = broken_seq, problem
            return report
        last_good, report.checkpoints_checked = checkpoint.count, report.checkpoints_checked + 1
    return report


def _checkpoint_mismatch(session, checkpoint, events_in_log, last_good):
    """(first seq that cannot be trusted, why) if the log no longer matches this checkpoint, else (None, None)."""
    problem = checkpoint_problem(session, checkpoint)
    if problem:
        return last_good + 1, problem
    if checkpoint.count > events_in_log:
        return events_in_log + 1, (f"checkpoint {checkpoint.id} signed {checkpoint.count} events, the log now holds "
                                   f"{events_in_log}: events were removed from the end")
    if head_hash_at(session, checkpoint.site_id, checkpoint.count) != checkpoint.head_hash:
        return last_good + 1, (f"checkpoint {checkpoint.id} signed another head at event {checkpoint.count}: "
                               f"events {last_good + 1} to {checkpoint.count} were rewritten")
    return None, None


def head_hash_at(session, site_id, count):
    """The hash of event number `count` (the genesis hash for 0)."""
    if count == 0:
        return GENESIS_HASH
    return session.scalar(
        select(ConsentEvent.event_hash).where(ConsentEvent.site_id == site_id, ConsentEvent.seq == count)
    )


@dataclass
class Position:
    """Where an event sits in its chain, and how far that was verified."""

    seq: int
    verified: bool
    anchor_count: int  # the signed checkpoint the walk started from (0: the genesis)
    covered_by: dict | None  # the first signed checkpoint at or after the event, if any
    problem: str | None = None


def verify_position(session, event):
    """Verify an event's place in the chain between the signed checkpoints around it.

    Walks from the last trusted checkpoint before the event to the first one at or after it (or
    to the current head), so the cost is one checkpoint interval, not the whole log.
    """
    around = select(Checkpoint).where(Checkpoint.site_id == event.site_id)
    anchor = session.scalars(around.where(Checkpoint.count < event.seq).order_by(Checkpoint.count.desc())).first()
    cover = session.scalars(around.where(Checkpoint.count >= event.seq).order_by(Checkpoint.count)).first()
    for checkpoint in filter(None, (anchor, cover)):
        problem = checkpoint_problem(session, checkpoint)
        if problem:
            return Position(event.seq, False, 0, None, problem)
    start = (anchor.count, anchor.head_hash) if anchor else (0, GENESIS_HASH)
    walk = verify_chain(session, event.site_id, after=start, through_seq=cover.count if cover else None)
    if not walk.intact:
        return Position(event.seq, False, start[0], None, broken_at(walk))
    if walk.events_checked == 0 or (cover and walk.head_hash != cover.head_hash):
        return Position(event.seq, False, start[0], None, "the chain no longer leads to the signed checkpoint")
    return Position(event.seq, True, start[0], checkpoint_json(cover) if cover else None)


# --- Outside copies: does the log still hold every head someone outside the database has seen? --


def read_published(path):
    """[(where, entry)] for the checkpoints in a file: JSON Lines as CONSENT_CHECKPOINT_FILE holds them, or the
    JSON the API answered ({"checkpoints": [...]}, a list, or one checkpoint). An entry that is not JSON is
    the ValueError that says why."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConsentError(f"{path}: cannot be read ({error})") from error
    try:
        document = _strict_json(text)
    except ValueError:
        return [(f"{path} line {number}", _strict_json_or_error(line))
                for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if isinstance(document, dict) and "checkpoints" in document:
        document = document["checkpoints"]
    if isinstance(document, list):
        return [(f"{path} checkpoint {number}", entry) for number, entry in enumerate(document, 1)]
    return [(f"{path} line 1", document)]


def _strict_json(text):
    """verify.strict_loads (every key once: with a key twice, what a reader sees and what the parser keeps
    may differ), its refusal a ValueError like any other unreadable JSON."""
    try:
        return strict_loads(text)
    except VerificationError as error:
        raise ValueError(str(error)) from None


def _strict_json_or_error(text):
    try:
        return _strict_json(text)
    except ValueError as error:
        return error


def outside_checkpoint(entry):
    """A published checkpoint (a line of the file, or the API's JSON) as an unsaved Checkpoint; ValueError if none."""
    if isinstance(entry, ValueError):
        raise ValueError(f"not JSON: {entry}")
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    try:
        return Checkpoint(site_id=entry["site_id"], lane=entry.get("lane"), count=entry["count"],
                          head_hash=entry["head_hash"], signed_at=datetime.fromisoformat(entry["time"]),
                          kid=entry.get("kid"), jws=entry["jws"])
    except KeyError as error:
        raise ValueError(f"no {error.args[0]!r}") from error
    except (TypeError, ValueError) as error:
        raise ValueError("'time' is not an ISO 8601 time") from error


def outside_problem(session, checkpoint, keys=None):
    """Why an outside checkpoint is not ours, or the log no longer holds the head it signed; None if it does.

    Its signature is checked first (with `keys`, else the database's), so what is compared with
    the log is what was signed, whatever else the copy says.
    """
    problem = checkpoint_problem(session, checkpoint, keys)
    if problem:
        return problem
    if checkpoint.lane not in (None, LANE):
        return f"it covers lane {checkpoint.lane}, and each site's log has one lane, {LANE}"
    held = head_hash_at(session, checkpoint.site_id, checkpoint.count)
    if held == checkpoint.head_hash:
        return None
    if held is None:
        events = session.scalar(select(func.count()).where(ConsentEvent.site_id == checkpoint.site_id))
        return (f"it signed {checkpoint.count} events, the log now holds {events}: "
                f"events were removed from the end")
    return (f"event {checkpoint.count} is not the one it signed: events up to {checkpoint.count} "
            f"were rewritten")


def broken_at(report):
    """Where and why a chain report is broken: "event 7 (consent_events.subject_ref): why"."""
    column = f" ({report.column})" if report.column else ""
    return f"event {report.first_broken_seq}{column}: {report.problem}"
