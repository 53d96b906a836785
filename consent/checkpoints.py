"""Signed checkpoints (tree heads) of each site's event log, and verifying the log against them.

A checkpoint is a JWS over {site_id, count, head_hash, time}. Once anyone has pinned one, the
first `count` events can no longer be rewritten unnoticed, not even by someone who recomputes
every hash after an edit: the head would no longer match the signed one. Checkpoints are made
by `flask consent log checkpoint`, automatically every CONSENT_CHECKPOINT_EVERY events while
consent is recorded, and when an auditor asks for a fresh one (POST .../checkpoints).
"""
import json
from dataclasses import asdict, dataclass
from datetime import timezone

import click
from flask.cli import AppGroup
from sqlalchemy import select

from consent import db, signing
from consent.chain import GENESIS_HASH, ChainReport, verify_chain
from consent.errors import ChainBroken, ConsentError
from consent.models import Checkpoint, ConsentEvent, Site, utcnow
from consent.sites import get_site

log_cli = AppGroup("log", help="The hash-chained consent log: verify, checkpoint.")


def checkpoint_payload(checkpoint):
    """The signed fields, the time always in UTC: SQLite hands times back without their zone,
    PostgreSQL in its session's zone, and the signed text must come out the same either way."""
    signed_at = checkpoint.signed_at
    if signed_at.tzinfo is None:
        signed_at = signed_at.replace(tzinfo=timezone.utc)
    return {"site_id": checkpoint.site_id, "count": checkpoint.count, "head_hash": checkpoint.head_hash,
            "time": signed_at.astimezone(timezone.utc).isoformat()}


def checkpoint_json(checkpoint):
    """A checkpoint as published: the signed fields, the key id and the JWS that proves them."""
    return {**checkpoint_payload(checkpoint), "kid": checkpoint.kid, "jws": checkpoint.jws}


def sign_checkpoint(session, site_id, count, head_hash):
    """Sign and store a tree head the caller has just computed or verified."""
    checkpoint = Checkpoint(site_id=site_id, count=count, head_hash=head_hash, signed_at=utcnow())
    checkpoint.kid, checkpoint.jws = signing.sign(session, checkpoint_payload(checkpoint))
    session.add(checkpoint)
    session.flush()
    return checkpoint


def checkpoint_now(session, site_id):
    """A checkpoint of the site's current head, after verifying the whole chain; ChainBroken if it is not intact.

    Returns (checkpoint, created): the latest checkpoint, not created, if no event was added since.
    """
    get_site(session, site_id)
    report = verify_log(session, site_id)
    if not report.intact:
        raise ChainBroken(f"Site {site_id!r}: event {report.first_broken_seq}: {report.problem}")
    latest = latest_checkpoint(session, site_id)
    if latest is not None and latest.count == report.events_checked:
        return latest, False
    return sign_checkpoint(session, site_id, report.events_checked, report.head_hash), True


def site_checkpoints(session, site_id):
    """A site's checkpoints, oldest first."""
    query = select(Checkpoint).where(Checkpoint.site_id == site_id)
    return session.scalars(query.order_by(Checkpoint.count, Checkpoint.id))


def latest_checkpoint(session, site_id):
    return session.scalars(
        select(Checkpoint).where(Checkpoint.site_id == site_id).order_by(Checkpoint.count.desc(), Checkpoint.id.desc())
    ).first()


def checkpoint_problem(session, checkpoint):
    """Why a stored checkpoint cannot be trusted (bad signature, fields not the signed ones), or None."""
    try:
        signed = json.loads(signing.verified_payload(session, checkpoint.jws))
    except ConsentError as error:
        return f"checkpoint {checkpoint.id}: {error.detail}"
    if signed != checkpoint_payload(checkpoint):
        return f"checkpoint {checkpoint.id}: the stored fields differ from the signed ones"
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
        return Position(event.seq, False, start[0], None, f"event {walk.first_broken_seq}: {walk.problem}")
    if walk.events_checked == 0 or (cover and walk.head_hash != cover.head_hash):
        return Position(event.seq, False, start[0], None, "the chain no longer leads to the signed checkpoint")
    return Position(event.seq, True, start[0], checkpoint_json(cover) if cover else None)


def _print_report(report):
    if report.intact:
        click.echo(f"{report.site_id}: intact, {report.events_checked} events, "
                   f"{report.checkpoints_checked} signed checkpoints match, head {report.head_hash}")
    else:
        click.echo(f"{report.site_id}: BROKEN at event {report.first_broken_seq}: {report.problem}")


@log_cli.command("verify")
@click.option("--site", "site_ids", multiple=True, help="Only this site (repeatable); default: every site.")
def verify_command(site_ids):
    """Check every site's chain and checkpoints; name the first broken link, exit 1 if there is one."""
    session = db.get_session()
    site_ids = site_ids or session.scalars(select(Site.id).order_by(Site.id)).all()
    broken = False
    for site_id in site_ids:
        try:
            get_site(session, site_id)
        except ConsentError as error:
            raise click.ClickException(error.detail) from error
        report = verify_log(session, site_id)
        _print_report(report)
        broken = broken or not report.intact
    if broken:
        raise SystemExit(1)


@log_cli.command("checkpoint")
@click.option("--site", "site_ids", multiple=True, help="Only this site (repeatable); default: every site with events.")
def checkpoint_command(site_ids):
    """Verify each chain and publish a signed checkpoint of its head."""
    with db.write_transaction() as session:
        site_ids = site_ids or session.scalars(select(ConsentEvent.site_id).group_by(ConsentEvent.site_id)).all()
        try:
            checkpoints = [checkpoint_now(session, site_id)[0] for site_id in site_ids]
        except ConsentError as error:
            raise click.ClickException(error.detail) from error
    if not checkpoints:
        click.echo("no site has events yet: nothing to checkpoint")
    for checkpoint in checkpoints:
        click.echo(f"{checkpoint.site_id}: checkpoint {checkpoint.id}, {checkpoint.count} events, "
                   f"head {checkpoint.head_hash}, signed {checkpoint_payload(checkpoint)['time']} by {checkpoint.kid}")
