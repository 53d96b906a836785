"""Tables: sites, policies, consent events and receipts, and the proof for auditors (the tables of running a
site, operators to scans, are in consent/storage/operations.py). Consent events and receipts are append-only:
no code path updates or deletes them."""
from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    literal,
    true,
    tuple_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, backref, mapped_column, relationship

from consent import clock


def utcnow():
    return clock.now()


def in_utc(moment):
    """A stored time as an aware datetime: SQLite hands times back without their zone, and they were
    stored in UTC (PostgreSQL gives them with theirs)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class Base(DeclarativeBase):
    pass


class Site(Base):
    """A website that embeds the widget, as its operator configured it."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[dict] = mapped_column(JSON)  # {"zh-CN": ..., "en": ...}
    controller: Mapped[dict] = mapped_column(JSON)  # name, contact, address, phone
    jurisdiction: Mapped[str] = mapped_column(String(8))
    default_language: Mapped[str] = mapped_column(String(8))
    texts: Mapped[dict] = mapped_column(JSON)  # banner title and intro, per language
    # Ask visitors to state their age; under age_threshold (PIPL art. 31: 14) needs a guardian's consent.
    age_gate: Mapped[bool] = mapped_column(Boolean, default=False)
    age_threshold: Mapped[int] = mapped_column(Integer, server_default="14")
    # Where the widget sets its decision cookie, so subdomains share one decision; None: each host its own.
    cookie_domain: Mapped[str | None] = mapped_column(String(253), nullable=True)
    # Google Consent Mode: {consent type: [purpose ids that grant it]}; None: derived (consent/sites/consent_mode.py).
    google_consent_mode: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # Reload the page after a withdrawal, so that trackers already running stop.
    reload_on_withdrawal: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # How many calendar months a decision lasts before the visitor is asked again (consent/ledger/lifetime.py,
    # whose DEFAULT_MONTHS the server default repeats: that module reads this one).
    consent_lifetime_months: Mapped[int] = mapped_column(Integer, server_default="12")
    # The IANA time zone statistics count days in (issue 17); None: the jurisdiction's (consent/stats/days.py).
    time_zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Whether the widget sends its anonymous banner marks, shown and decided (consent/stats/, README "Statistics").
    banner_statistics: Mapped[bool] = mapped_column(Boolean, server_default=true())
    current_policy_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # Raised by every update of the row (raise_revision), which every change to the site's configuration is,
    # origins included: a worker's cached copy of the site (consent/ledger/site_facts.py) is current while this
    # is what it read, whatever the clock did meanwhile.
    revision: Mapped[int] = mapped_column(Integer, server_default="0")
    # How many hash chains (lanes) its log is split into, each with its own head and lock, so that one busy
    # site's writers do not all wait for each other (consent/ledger/lanes.py). Only ever raised.
    lanes: Mapped[int] = mapped_column(Integer, server_default="1")

    origins: Mapped[list["SiteOrigin"]] = relationship(
        cascade="all, delete-orphan", order_by="SiteOrigin.position"
    )

    @property
    def allowed_origins(self):
        return [origin.origin for origin in self.origins]


@event.listens_for(Site, "before_update")
def raise_revision(_mapper, _connection, site):
    site.revision = (site.revision or 0) + 1


class SiteOrigin(Base):
    """An origin allowed to embed a site's widget; its own table so CORS checks are one indexed lookup."""

    __tablename__ = "site_origins"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    origin: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)


class SubjectSecret(Base):
    """A key a site's backend signs subject tokens with (consent/subjects/tokens.py).

    Kept in clear, as the webhook secret is: verifying an HMAC needs the key itself. Never exported.
    A rotated secret keeps verifying until `retires_at`, so pages already served keep working.
    """

    __tablename__ = "subject_secrets"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    retires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PolicyVersion(Base):
    """A published privacy policy: full text and purposes exactly as shown. Never changed once stored."""

    __tablename__ = "policy_versions"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    text: Mapped[dict] = mapped_column(JSON)
    changes: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    texts: Mapped[dict] = mapped_column(JSON)
    purposes: Mapped[list] = mapped_column(JSON)
    # The day the version takes effect, as the policy states it; None for versions published before it existed.
    effective_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Subject(Base):
    """The link from a site's own user id to the pseudonym its consent events carry.

    Events never hold the site's user id, so erasing a subject is deleting this row: the events
    and their hash chain stay intact as proof, yet no longer point to a person.
    """

    __tablename__ = "subjects"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(36), unique=True)
    # The lane of the site's log the subject's decisions go to, fixed at their first (consent/ledger/lanes.py).
    lane: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConsentEvent(Base):
    """One decision by one visitor, as a canonical JSON document linked into a hash chain of its site: one of
    the site's lanes, numbered by `seq` within it.

    `document` is the exact text that was hashed; the other columns repeat parts of it for queries.
    """

    __tablename__ = "consent_events"
    __table_args__ = (
        UniqueConstraint("site_id", "lane", "seq"),
        UniqueConstraint("site_id", "idempotency_key"),
        Index("ix_consent_events_site_subject", "site_id", "subject_ref"),
        Index("ix_consent_events_site_visitor", "site_id", "visitor_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    lane: Mapped[int] = mapped_column(Integer, server_default="0")  # 0 for every event before migration 0021
    seq: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    subject_ref: Mapped[str | None] = mapped_column(String(36), nullable=True)  # Subject.pseudonym
    # The visitor reference: a keyed hash of the credential only the visitor's browser holds
    # (consent/subjects/identity.py). Events stored before migration 0008 hold the browser's own id here.
    visitor_id: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_hash: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    document: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    event_hash: Mapped[str] = mapped_column(String(64))
    # True when a valid subject token bound the decision to `subject_ref` (migration 0008). Bindings
    # stored before then were the browser's word and stay False: nothing treats them as consent.
    subject_verified: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # When the visitor decided, by their own clock within a bound (decisions.decision_time): which
    # decision is the latest. None before migration 0008, where the arrival time stands in.
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # SHA-256 of the request that made the event, less its subject token: a repeated idempotency
    # key is answered only for the same request.
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

    receipt: Mapped["Receipt"] = relationship(back_populates="event", uselist=False)


# Chain order, lane by lane: the order lists of a site's events are read and paged in (consent/ledger/lanes.py,
# position), along the unique (site_id, lane, seq).
CHAIN_ORDER = (ConsentEvent.lane, ConsentEvent.seq)


def after_in_chain(lane, seq):
    """A condition for a site's events after event `seq` of `lane` in chain order, which the unique (site_id, lane,
    seq) index serves on both backends. Bound as BIGINT: a cursor's seq part may be more than an INTEGER holds, which
    PostgreSQL would refuse to cast."""
    return tuple_(*CHAIN_ORDER) > tuple_(literal(lane, BigInteger), literal(seq, BigInteger))


class Receipt(Base):
    """The consent receipt handed to the visitor for an event, with its HMAC signature."""

    __tablename__ = "receipts"

    receipt_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("consent_events.event_id"), unique=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    document: Mapped[str] = mapped_column(Text)  # canonical JSON of the receipt
    hmac_signature: Mapped[str] = mapped_column(Text)  # itsdangerous token over `document`
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    event: Mapped[ConsentEvent] = relationship(back_populates="receipt")


# --- Proof for auditors: signing keys, receipt JWS, signed checkpoints, auditor accounts -----------
# Receipt signatures and checkpoints are append-only like events; database triggers refuse
# UPDATE and DELETE on them (migration 0004_audit).


class SigningKey(Base):
    """An Ed25519 public key receipts are signed with; its private half lives in CONSENT_KEY_DIR, never here.

    Retired keys stop signing but stay published in the JWKS, so what they signed still verifies.
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)  # RFC 7638 thumbprint of the public key
    public_key: Mapped[str] = mapped_column(String(64))  # the raw 32 bytes, base64url
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ReceiptSignature(Base):
    """A receipt's Ed25519 signature: a compact JWS whose payload is the receipt's canonical JSON."""

    __tablename__ = "receipt_signatures"

    receipt_id: Mapped[str] = mapped_column(ForeignKey("receipts.receipt_id"), primary_key=True)
    kid: Mapped[str] = mapped_column(ForeignKey("signing_keys.kid"), index=True)
    jws: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    receipt: Mapped[Receipt] = relationship(backref=backref("ed25519", uselist=False))


class Checkpoint(Base):
    """A signed tree head of a site's log: how many events it held and the hash of the last one, at a time.

    Of a log of several lanes: every lane's count and head (`lanes`), `count` their sum and `head_hash`
    the Merkle root over them (consent/proof/verify.py, lanes_root).
    """

    __tablename__ = "checkpoints"
    __table_args__ = (Index("ix_checkpoints_site_count", "site_id", "count"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    count: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Which of the site's chains it covers: 0 for a site of one lane; NULL for checkpoints signed before 0009, whose
    # signed payload has no lane and must keep verifying as it is, and for those of several lanes (`lanes`).
    lane: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # [[count, head_hash] of lane 0, of lane 1, ...] of a site of several lanes (migration 0021); else None.
    lanes: Mapped[list | None] = mapped_column(JSON, nullable=True)
    kid: Mapped[str] = mapped_column(ForeignKey("signing_keys.kid"))
    jws: Mapped[str] = mapped_column(Text)


class Auditor(Base):
    """Someone allowed to inspect the proof of consent of some sites: by API token or console login."""

    __tablename__ = "auditors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # werkzeug.security
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the API token
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set by `flask consent auditor disable`: neither the token nor the password opens anything then.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Raised at sign-out, password change and disabling: older console sessions end (consent/accounts/sessions.py).
    session_generation: Mapped[int] = mapped_column(Integer, default=0)

    sites: Mapped[list["AuditorSite"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def site_ids(self):
        return sorted(scope.site_id for scope in self.sites)


class AuditorSite(Base):
    """One site an auditor may inspect; every auditor query is filtered by these."""

    __tablename__ = "auditor_sites"

    auditor_id: Mapped[int] = mapped_column(ForeignKey("auditors.id", ondelete="CASCADE"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)


# The plain tables, for the statements of the decision path, built once with SQLAlchemy Core (no ORM).
SITES, ORIGINS, SUBJECTS = Site.__table__, SiteOrigin.__table__, Subject.__table__
EVENTS, RECEIPTS, SIGNATURES = ConsentEvent.__table__, Receipt.__table__, ReceiptSignature.__table__
