"""Tables of running a site: console users, API keys, webhooks and their deliveries, erasures, compliance scans,
statistics."""
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.storage.models import Base, Checkpoint, utcnow

ACTIVE_SCAN = text("status IN ('queued', 'running')")


class AdminUser(Base):
    """Someone who may sign in to the admin console; created with `flask consent admin create`.

    An "owner" manages every site and the console's users; an "operator" only the sites in `sites`.
    """

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # werkzeug.security (scrypt)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    role: Mapped[str] = mapped_column(String(16), default="owner")  # owner | operator
    # Raised at sign-out and password change: older console sessions end (consent/accounts/sessions.py).
    session_generation: Mapped[int] = mapped_column(Integer, default=0)

    sites: Mapped[list["AdminUserSite"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def site_ids(self):
        return sorted(scope.site_id for scope in self.sites)


class AdminUserSite(Base):
    """One site an operator manages; owners need none."""

    __tablename__ = "admin_user_sites"

    admin_user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id", ondelete="CASCADE"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)


class ApiKey(Base):
    """A site backend's credential. Only the SHA-256 of the token is kept; the token is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the token's visible start, to tell keys apart
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SiteWebhook(Base):
    """Where a site wants to hear about every consent change, and the secret its POSTs are signed with."""

    __tablename__ = "site_webhooks"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))


class WebhookDelivery(Base):
    """One message to one site's webhook, a decision (event) or a checkpoint; retried with backoff until
    delivered or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        CheckConstraint("(event_id IS NULL) <> (checkpoint_id IS NULL)", name="ck_webhook_deliveries_one_message"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str | None] = mapped_column(ForeignKey("consent_events.event_id"), nullable=True)
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("checkpoints.id"), nullable=True)  # 0009
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    log: Mapped[list["WebhookAttempt"]] = relationship(
        cascade="all, delete-orphan", order_by="WebhookAttempt.id", lazy="selectin"
    )
    checkpoint: Mapped["Checkpoint"] = relationship(lazy="selectin")


class WebhookAttempt(Base):
    """The delivery log: one line per POST tried, with what the receiver answered."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)


class Scan(Base):
    """A compliance scan of some of a site's pages (consent/scanner/scans.py), kept with its date and result so
    that scans compare. At most one per site is queued or running: the partial unique index says so."""

    __tablename__ = "scans"
    __table_args__ = (Index("ux_scans_one_active", "site_id", unique=True, sqlite_where=ACTIVE_SCAN,
                            postgresql_where=ACTIVE_SCAN),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued, running, done, failed
    requested_by: Mapped[str] = mapped_column(String(254))  # the console user's name, or "command line"
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    urls: Mapped[list] = mapped_column(JSON)  # where the scan starts
    max_pages: Mapped[int] = mapped_column(Integer)
    follow_links: Mapped[bool] = mapped_column(Boolean, default=False)
    pages_done: Mapped[int] = mapped_column(Integer, default=0)  # progress, while it runs
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Findings by severity, for the console's chart without reading every result; then the result itself.
    high: Mapped[int | None] = mapped_column(Integer, nullable=True)
    medium: Mapped[int | None] = mapped_column(Integer, nullable=True)
    low: Mapped[int | None] = mapped_column(Integer, nullable=True)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # consent/scanner/report.py's document


class Erasure(Base):
    """A subject deletion request, as proof it was honoured; holds a keyed hash, never the subject id."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    subject_hash: Mapped[str] = mapped_column(String(64))
    had_record: Mapped[bool] = mapped_column(Boolean)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)



# --- Statistics (issue 17): aggregate counters only, rolled up outside the decision path ------------------
# None of these tables holds an identifier: no visitor, subject, address or client hash, only counts per
# site, day (in the site's time zone), language, policy version and outcome.


class DecisionStats(Base):
    """Decisions of one site, day, language and policy version, rolled up from its events by sequence."""

    __tablename__ = "decision_stats"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    policy_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    decisions: Mapped[int] = mapped_column(Integer, default=0)
    accept_all: Mapped[int] = mapped_column(Integer, default=0)
    reject_all: Mapped[int] = mapped_column(Integer, default=0)
    custom: Mapped[int] = mapped_column(Integer, default=0)
    withdrawals: Mapped[int] = mapped_column(Integer, default=0)  # took back a purpose the same visitor had granted
    under_age: Mapped[int] = mapped_column(Integer, default=0)  # an under-age statement
    dnt: Mapped[int] = mapped_column(Integer, default=0)
    gpc: Mapped[int] = mapped_column(Integer, default=0)
    granted: Mapped[dict] = mapped_column(JSON, default=dict)  # {purpose id: decisions granting it}


class FunnelMark(Base):
    """One anonymous banner mark as the widget sent it ("shown", or the decision that followed), kept only until
    the roll-up counts it: a time, a language and an outcome, nothing about who."""

    __tablename__ = "funnel_marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    language: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(16))  # shown, accept_all, reject_all, custom
    seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)  # from shown to decided, capped


class FunnelStats(Base):
    """Banner marks of one site, day, language and outcome; `seconds` counts decisions by time-to-decide bucket."""

    __tablename__ = "funnel_stats"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[dict] = mapped_column(JSON, default=dict)  # {bucket's upper bound in seconds: count}


class StatsProgress(Base):
    """How far a site's decision roll-up has read each lane of its log (by the lane's sequence, which commits in
    order), and the zone its days were counted in. Banner marks need no mark: each is deleted as it is counted."""

    __tablename__ = "stats_progress"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    lane: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    time_zone: Mapped[str] = mapped_column(String(64))


# The plain tables, for the statements of the decision path (consent/storage/models.py has the others).
WEBHOOKS, DELIVERIES = SiteWebhook.__table__, WebhookDelivery.__table__
