"""`flask consent keys ...` and `flask consent log ...`: signing keys, and checking the log and its checkpoints."""
import click
from flask.cli import AppGroup

from consent.errors import ConsentError
from consent.ledger.checkpoints import (
    broken_at,
    checkpoint_now,
    checkpoint_payload,
    publish_to_file,
    sites_with_events,
    verify_log,
)
from consent.ledger.outside_copies import outside_checkpoint, outside_problem, read_published
from consent.ledger.signing import key_dir, list_keys, rotate
from consent.proof.verify import VerificationError, keys_by_kid, read_json
from consent.sites.configs import get_site, list_sites
from consent.storage import db

keys_cli = AppGroup("keys", help="Ed25519 signing keys: rotate, list.")
log_cli = AppGroup("log", help="The hash-chained consent log: verify, checkpoint.")


@keys_cli.command("rotate")
def rotate_command():
    """Create a new signing key; older keys stop signing but stay in the JWKS."""
    with db.write_transaction() as session:
        key = rotate(session)
    click.echo(f"new signing key {key.kid} (private key in {key_dir()})")


@keys_cli.command("list")
def list_command():
    """One line per key: kid, created, retired."""
    for key in list_keys(db.get_session()):
        click.echo(f"{key.kid}\tcreated {key.created_at:%Y-%m-%d %H:%M}\t{'retired' if key.retired_at else 'active'}")


def verify_outside(session, paths, keys=None, site_ids=()):
    """Check every checkpoint in the files (of `site_ids` only, if any) against the log; print each one the
    log no longer holds and a line per file. True if there was any."""
    broken = False
    for path in paths:
        checked = problems = 0
        for where, entry in read_published(path):
            if site_ids and isinstance(entry, dict) and entry.get("site_id") not in site_ids:
                continue
            checked += 1
            try:
                checkpoint = outside_checkpoint(entry)
            except ValueError as error:
                problem = f"not a checkpoint: {error}"
            else:
                where = f"{where} ({checkpoint.site_id}, {checkpoint.count} events, signed {entry['time']})"
                problem = outside_problem(session, checkpoint, keys)
            if problem:
                problems += 1
                click.echo(f"{where}: BROKEN: {problem}")
        click.echo(f"{path}: {checked - problems} of {checked} outside checkpoints held by the log")
        broken = broken or problems > 0
    return broken


def _outside_keys(path):
    """{kid: JWK} of a key set file, as served at /.well-known/jwks.json and kept outside the database."""
    try:
        return keys_by_kid(read_json(path))
    except VerificationError as error:
        raise ConsentError(f"{path}: {error}") from error


def _print_report(report):
    if report.intact:
        lanes = (f" in {len(report.lanes)} lanes ({', '.join(str(count) for count, _head in report.lanes)})"
                 if len(report.lanes) > 1 else "")
        head = "Merkle root of the lanes' heads" if lanes else "head"
        click.echo(f"{report.site_id}: intact, {report.events_checked} events{lanes}, "
                   f"{report.checkpoints_checked} signed checkpoints match, {head} {report.head_hash}")
    else:
        click.echo(f"{report.site_id}: BROKEN at {broken_at(report)}")


@log_cli.command("verify")
@click.option("--site", "site_ids", multiple=True, help="Only this site (repeatable); default: every site.")
@click.option("--checkpoints", "checkpoint_files", multiple=True, type=click.Path(dir_okay=False),
              help="Also prove the log holds every checkpoint in this outside copy (repeatable): the "
                   "checkpoint file's JSON lines, or the JSON of the checkpoint API.")
@click.option("--jwks", type=click.Path(dir_okay=False),
              help="Check those checkpoints' signatures with this key set, kept outside the database, "
                   "instead of the keys in the database.")
def verify_command(site_ids, checkpoint_files, jwks):
    """Check every site's chain and checkpoints; name the first broken link, exit 1 if there is one."""
    if jwks and not checkpoint_files:
        raise click.UsageError("--jwks checks the signatures of --checkpoints: give the file too.")
    outside_keys, outside_sites = _outside_keys(jwks) if jwks else None, set(site_ids)
    session = db.get_session()
    site_ids = site_ids or [site.id for site in list_sites(session)]
    broken = False
    for site_id in site_ids:
        get_site(session, site_id)
        report = verify_log(session, site_id)
        _print_report(report)
        broken = broken or not report.intact
    if checkpoint_files:
        broken = verify_outside(session, checkpoint_files, outside_keys, outside_sites) or broken
    if broken:
        raise SystemExit(1)


@log_cli.command("checkpoint")
@click.option("--site", "site_ids", multiple=True, help="Only this site (repeatable); default: every site with events.")
def checkpoint_command(site_ids):
    """Verify each chain and publish a signed checkpoint of its head."""
    with db.write_transaction() as session:
        site_ids = site_ids or sites_with_events(session)
        made = [checkpoint_now(session, site_id) for site_id in site_ids]
    publish_to_file([checkpoint for checkpoint, created in made if created])
    checkpoints = [checkpoint for checkpoint, _created in made]
    if not checkpoints:
        click.echo("no site has events yet: nothing to checkpoint")
    for checkpoint in checkpoints:
        lanes = f" in {len(checkpoint.lanes)} lanes" if checkpoint.lanes else ""
        click.echo(f"{checkpoint.site_id}: checkpoint {checkpoint.id}, {checkpoint.count} events{lanes}, "
                   f"head {checkpoint.head_hash}, signed {checkpoint_payload(checkpoint)['time']} by {checkpoint.kid}")
