"""Outside copies of checkpoints: does the log still hold every head someone outside the database has seen?

A copy is what left the database when each checkpoint was signed (consent/ledger/checkpoints.py): the lines of
CONSENT_CHECKPOINT_FILE, the webhook's messages, the public list. `log verify --checkpoints FILE` reads one with
read_published, and checks each entry's signature, then the heads it signed against the log (outside_problem).
"""
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from consent.errors import ConsentError
from consent.ledger.checkpoints import checkpoint_problem, covered_heads, head_hash_at
from consent.proof.verify import VerificationError, strict_loads
from consent.storage.models import Checkpoint, ConsentEvent


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
        return Checkpoint(site_id=entry["site_id"], lane=entry.get("lane"), lanes=entry.get("lanes"),
                          count=entry["count"], head_hash=entry["head_hash"],
                          signed_at=datetime.fromisoformat(entry["time"]), kid=entry.get("kid"), jws=entry["jws"])
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
    heads = covered_heads(checkpoint)
    several = checkpoint.lanes is not None
    for lane, (count, head_hash) in sorted(heads.items()):
        held = head_hash_at(session, checkpoint.site_id, count, lane)
        if held == head_hash:
            continue
        of_lane = f" of lane {lane}" if several or lane else ""
        if held is None:
            events = session.scalar(select(func.count()).where(ConsentEvent.site_id == checkpoint.site_id,
                                                               ConsentEvent.lane == lane))
            return (f"it signed {count} events{of_lane}, the log now holds {events}: "
                    f"events were removed from the end")
        return f"event {count}{of_lane} is not the one it signed: events up to {count} were rewritten"
    return None
