"""Signed checkpoints (tree heads) of each site's event log, and verifying the log against them.

A checkpoint of a log of one lane is a JWS over {site_id, lane, count, head_hash, time} (those signed
before lanes were named have no lane, and keep verifying as signed). Of a log of several lanes
(consent/ledger/lanes.py), over {site_id, lanes, count, head_hash, time}: `lanes` is [count, head hash]
of every lane, `count` their sum and `head_hash` the Merkle root over them (verify.lanes_root), so every
lane's head is signed at once. Once anyone has pinned one, the first `count` events of each lane can no
longer be rewritten unnoticed, not even by someone who recomputes every hash after an edit: the head would
no longer match the signed one. Checkpoints are made
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
from datetime import UTC, timedelta
from operator import itemgetter
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from consent.errors import ChainBroken, ConsentError
from consent.ledger import signing
from consent.ledger.chain import GENESIS_HASH, ChainReport, verify_chain, verify_lane
from consent.proof.verify import VerificationError, lanes_root, verify_jws
from consent.sites.configs import get_site
from consent.storage.models import Checkpoint, ConsentEvent, in_utc, utcnow
from consent.storage.operations import SiteWebhook, WebhookDelivery


def checkpoint_payload(checkpoint):
    """The signed fields, the time always in UTC: SQLite hands times back without their zone,
    PostgreSQL in its session's zone, and the signed text must come out the same either way."""
    signed_at = in_utc(checkpoint.signed_at)
    payload = {"site_id": checkpoint.site_id, "count": checkpoint.count, "head_hash": checkpoint.head_hash,
               "time": signed_at.astimezone(UTC).isoformat()}
    if checkpoint.lanes is not None:  # a log of several lanes (migration 0021)
        payload["lanes"] = checkpoint.lanes
    elif checkpoint.lane is not None:  # signed since migration 0009; older checkpoints signed no lane
        payload["lane"] = checkpoint.lane
    return payload


def covered_heads(checkpoint):
    """{lane: (count, head hash)} a checkpoint signed."""
    if checkpoint.lanes is not None:
        return {lane: tuple(head) for lane, head in enumerate(checkpoint.lanes)}
    return {checkpoint.lane or 0: (checkpoint.count, checkpoint.head_hash)}


def checkpoint_json(checkpoint):
    """A checkpoint as published: the signed fields, the key id and the JWS that proves them."""
    return {**checkpoint_payload(checkpoint), "kid": checkpoint.kid, "jws": checkpoint.jws}


def sign_checkpoint(session, site_id, heads):
    """Sign and store tree heads the caller has just computed or verified, and queue them for the site's webhook.

    `heads`: [(count, head hash)] of every lane of the site, in order. The caller appends the checkpoint to the
    checkpoint file once its transaction has committed (publish_to_file).
    """
    if len(heads) == 1:  # as every checkpoint before lanes
        [(count, head_hash)] = heads
        checkpoint = Checkpoint(site_id=site_id, lane=0, count=count, head_hash=head_hash, signed_at=utcnow())
    else:
        lanes = [[count, head_hash] for count, head_hash in heads]
        checkpoint = Checkpoint(site_id=site_id, lanes=lanes, count=sum(count for count, _head in heads),
                                head_hash=lanes_root(lanes), signed_at=utcnow())
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
    if latest is not None and covered_heads(latest) == dict(enumerate(report.lanes)):
        return latest, False
    return sign_checkpoint(session, site_id, report.lanes), True


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


def interval_due(connection, site):
    """Whether a site just written to needs a checkpoint because its newest one (or, with none yet, its
    first event) is older than CONSENT_CHECKPOINT_INTERVAL_SECONDS (0: never).

    Costs no query until this worker's note says one may be due: then one, which also learns of
    checkpoints other workers signed meanwhile. So a worker asks at most once per site and interval.
    """
    if not _interval():
        return False
    site_id, now, notes = site.id, utcnow(), _clock_notes()
    if site_id in notes and now < notes[site_id]:
        return False
    newest = connection.scalar(select(func.max(Checkpoint.signed_at)).where(Checkpoint.site_id == site_id))
    if newest is None:  # the first event of each lane: one row each, through the (site, lane, seq) index
        newest = connection.scalar(select(func.min(ConsentEvent.created_at)).where(
            ConsentEvent.site_id == site_id, ConsentEvent.lane.in_(range(site.lanes)), ConsentEvent.seq == 1))
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
    if checkpoint.lanes is not None and not _lanes_agree(checkpoint):
        return f"{name}its count and head are not the sum and Merkle root of the lanes it signed"
    return None


def _lanes_agree(checkpoint):
    try:
        return (checkpoint.count == sum(count for count, _head in checkpoint.lanes)
                and checkpoint.head_hash == lanes_root(checkpoint.lanes))
    except (TypeError, ValueError, VerificationError):  # not [[count, head], ...]
        return False


@dataclass
class LogReport(ChainReport):
    """verify_chain's report, extended with the checks against signed checkpoints."""

    checkpoints_checked: int = 0


def verify_log(session, site_id):
    """Verify the chain of every lane link by link, then that every signed checkpoint still matches them.

    The chain walk names the first event that was edited, removed or reordered. The checkpoints
    catch what the walk cannot: a tail cut off, or a rewrite with every hash recomputed (then the
    first broken event lies after the last checkpoint that still matches, in the lane named).
    """
    chain = verify_chain(session, site_id)
    report = LogReport(**asdict(chain))
    if not report.intact:
        return report
    held, last_good = dict(enumerate(chain.lanes)), {}
    for checkpoint in site_checkpoints(session, site_id):
        broken_lane, broken_seq, problem = _checkpoint_mismatch(session, checkpoint, held, last_good)
        if problem:
            report.first_broken_seq, report.problem = broken_seq, problem
            report.lane = broken_lane if len(held) > 1 else None
            return report
        report.checkpoints_checked += 1
    return report


def _checkpoint_mismatch(session, checkpoint, held, last_good):
    """(lane, first seq there that cannot be trusted, why) if the log no longer matches this checkpoint, else
    (None, None, None). `held`: {lane: (count, head)} of the log; `last_good`: {lane: the count of the last
    checkpoint that matched}, moved on here when this one matches."""
    problem = checkpoint_problem(session, checkpoint)
    if problem:
        lane = checkpoint.lane or 0
        return lane, last_good.get(lane, 0) + 1, problem
    covered = covered_heads(checkpoint)
    for lane, (count, head_hash) in sorted(covered.items()):
        events_in_lane = held.get(lane, (0, GENESIS_HASH))[0]
        good = last_good.get(lane, 0)
        if count > events_in_lane:
            return lane, events_in_lane + 1, (f"checkpoint {checkpoint.id} signed {count} events"
                                              f"{_of_lane(held, lane)}, the log now holds {events_in_lane}: "
                                              "events were removed from the end")
        if head_hash_at(session, checkpoint.site_id, count, lane) != head_hash:
            return lane, good + 1, (f"checkpoint {checkpoint.id} signed another head at event {count}"
                                    f"{_of_lane(held, lane)}: events {good + 1} to {count} were rewritten")
    last_good.update((lane, count) for lane, (count, _head) in covered.items())
    return None, None, None


def _of_lane(held, lane):
    return f" of lane {lane}" if len(held) > 1 else ""


def head_hash_at(session, site_id, count, lane=0):
    """The hash of event number `count` of a lane (the genesis hash for 0)."""
    if count == 0:
        return GENESIS_HASH
    return session.scalar(select(ConsentEvent.event_hash).where(
        ConsentEvent.site_id == site_id, ConsentEvent.lane == lane, ConsentEvent.seq == count))


@dataclass
class Position:
    """Where an event sits in its chain, and how far that was verified."""

    seq: int
    verified: bool
    anchor_count: int  # the signed checkpoint the walk started from (0: the genesis)
    covered_by: dict | None  # the first signed checkpoint at or after the event, if any
    problem: str | None = None


def verify_position(session, event):
    """Verify an event's place in its lane between the signed checkpoints around it.

    Walks from the last trusted checkpoint before the event to the first one at or after it (or
    to the current head), so the cost is one checkpoint interval, not the whole log.
    """
    anchor, cover = _checkpoints_around(session, event)
    for checkpoint in filter(None, (anchor, cover)):
        problem = checkpoint_problem(session, checkpoint)
        if problem:
            return Position(event.seq, False, 0, None, problem)
    start = covered_heads(anchor)[event.lane] if anchor else (0, GENESIS_HASH)
    end = covered_heads(cover)[event.lane] if cover else None
    walk = verify_lane(session, event.site_id, event.lane, after=start, through_seq=end[0] if end else None)
    if not walk.intact:
        return Position(event.seq, False, start[0], None, broken_at(walk))
    if walk.events_checked == 0 or (end and walk.head_hash != end[1]):
        return Position(event.seq, False, start[0], None, "the chain no longer leads to the signed checkpoint")
    return Position(event.seq, True, start[0], checkpoint_json(cover) if cover else None)


def _checkpoints_around(session, event):
    """(the last checkpoint covering the event's lane before the event, the first at or after it), None where none.

    Checkpoints of one lane cover lane 0 and are found by the (site, count) index; those of several lanes hold each
    lane's count inside their signed list, so they are read and compared here. Among equal counts the first found.
    """
    around = select(Checkpoint).where(Checkpoint.site_id == event.site_id)
    counted = []  # (the count of the event's lane it signed, checkpoint)
    if event.lane == 0:
        single = around.where(Checkpoint.lanes.is_(None))
        nearest = (single.where(Checkpoint.count < event.seq).order_by(Checkpoint.count.desc()),
                   single.where(Checkpoint.count >= event.seq).order_by(Checkpoint.count))
        counted += [(found.count, found) for found in (session.scalars(query).first() for query in nearest) if found]
    for checkpoint in session.scalars(around.where(Checkpoint.lanes.is_not(None)).order_by(Checkpoint.id)):
        heads = covered_heads(checkpoint)
        if event.lane in heads:  # not one signed before the site had this lane
            counted.append((heads[event.lane][0], checkpoint))
    before = [item for item in counted if item[0] < event.seq]
    after = [item for item in counted if item[0] >= event.seq]
    anchor = max(before, key=itemgetter(0))[1] if before else None
    cover = min(after, key=itemgetter(0))[1] if after else None
    return anchor, cover


def broken_at(report):
    """Where and why a chain report is broken: "event 7 (consent_events.subject_ref): why", or in a log of several
    lanes "lane 2, event 7 (...): why"."""
    column = f" ({report.column})" if report.column else ""
    lane = f"lane {report.lane}, " if report.lane is not None else ""
    return f"{lane}event {report.first_broken_seq}{column}: {report.problem}"
