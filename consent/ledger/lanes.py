"""Lanes: a site's log split into several hash chains, so that its writers need not all wait for one lock.

Each lane is a chain of its own: its own `seq` from 1, its own `prev_hash` links, its own head and, on
PostgreSQL, its own lock. A site has one lane unless its configuration says more (`lanes`, raised only);
every event stored before lanes existed is in lane 0, numbered as before. A checkpoint signs every lane's
head at once (consent/ledger/checkpoints.py), and `log verify` walks each lane and names it with the event.

Who goes in which lane: "their latest decision" must stay well defined, so each person's decisions stay in
one chain, whose order is theirs.

- A user (a subject) is pinned when their pseudonym is made: the lane is derived from the subject id and
  stored with the pseudonym, so two first decisions of one user meet in one lane (one of them finds the
  other's pseudonym), and raising the lane count later moves no stored user. The decision that links an
  anonymous visitor to a user at login is the user's, in the user's lane.
- An anonymous visitor's lane is derived from their keyed reference. Raising the lane count moves some
  visitors to another lane from then on; their decisions before and after are ordered by time, as a
  visitor's history always is read (decided_at, then arrival), the chain's order only breaking ties.

SQLite has one writer at a time for the whole database, so there lanes cost a little and gain nothing: they
work the same, and pay on PostgreSQL, whose writers of one site then take turns per lane (README, "Lanes").
"""
import hashlib

MAX_LANES = 64


def _spread(*parts):
    """A number from `parts`, the same on every host and in every release (not Python's hash())."""
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "big")


def visitor_lane(visitor_ref, lanes):
    """The lane of an anonymous visitor's decisions, among a site's `lanes`."""
    return _spread("visitor", visitor_ref) % lanes


def subject_lane(site_id, subject_id, lanes):
    """The lane a user is pinned to at their first decision, among a site's `lanes` then."""
    return _spread("subject", site_id, subject_id) % lanes


def lock_key(site_id, lane):
    """The PostgreSQL advisory lock a writer of this lane holds while it extends the lane (a signed 64-bit key).

    Two lanes sharing a key (a chance of 2^-64 a pair) would only take turns, as one lane does."""
    return _spread("lane", site_id, str(lane)) - 2**63


# A place in a site's log as one integer, for the cursors of paged lists (`after`, `next_after`): lane × 2**32
# + seq, so that ordering positions is chain order, lane by lane. Lane 0's positions are its seqs: a cursor
# handed out before lanes existed still names the same place.
POSITION_STRIDE = 2**32


def position(lane, seq):
    """The position of event `seq` of `lane`."""
    return lane * POSITION_STRIDE + seq


def lane_and_seq(place):
    """(lane, seq) of a position."""
    return divmod(place, POSITION_STRIDE)
