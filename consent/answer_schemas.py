"""The shapes of the API's answers, as marshmallow schemas: documentation only, for consent/openapi.py.

Nothing loads or dumps through them; the answers are built as dicts where they are made. Unknown keys
pass (clients must ignore keys they do not know). The inputs' shapes are in consent/schemas.py.
"""
from marshmallow import EXCLUDE, Schema, fields, validate

from consent.config import LANGUAGES
from consent.errors import ASK_AGAIN, DROP, RETRY
from consent.ledger.lifetime import MAX_MONTHS
from consent.sites import vocabulary
from consent.sites.config_schema import AGE_THRESHOLDS

SEQ = "The decision's place in its lane of the site's log: each lane is a hash chain numbered from 1."
LANE = ("Which of the site's hash chains (lanes) holds the decision: 0 on a site of one lane, and for every decision "
        "stored before lanes existed.")
NEXT_AFTER = ("The position of this page's last entry (lane × 2^32 + seq), to send as `after` for the next page; "
              "null on the last page.")


class Answer(Schema):
    class Meta:
        unknown = EXCLUDE


class Component(fields.Raw):
    """A value the OpenAPI document describes by a component that is no marshmallow schema (the receipt's
    own JSON Schema, the JWS)."""

    def __init__(self, component, **kwargs):
        super().__init__(**kwargs)
        self.component = component


class ProblemSchema(Answer):
    type = fields.String(required=True, metadata={
        "description": "One URL per kind of refusal: GET it for what it means."})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict()
    action = fields.String(validate=validate.OneOf([RETRY, ASK_AGAIN, DROP]), metadata={
        "description": "What a client does with what it sent: send it again later, ask the visitor again, or drop it."})


class ProblemTypeSchema(Answer):
    type = fields.String(required=True)
    title = fields.String(required=True)
    action = fields.String(required=True, validate=validate.OneOf([RETRY, ASK_AGAIN, DROP]))
    description = fields.String(required=True)


class StoredReceiptSchema(Answer):
    receipt_id = fields.String(required=True)
    receipt = Component("Receipt", required=True)
    signature = fields.String(required=True)
    jws = Component("ReceiptJws", required=True)
    signature_valid = fields.Boolean(required=True)


EXPIRES_AT = "When the decision stops counting and the visitor is asked again (ISO 8601, UTC)."
EXPIRES_AT_MS = "The same instant in milliseconds since 1970, as the widget keeps times."
EXPIRED_AT = "When the user's latest decision expired, which makes this a no-decision answer; null otherwise."
GUARDIAN_CONSENT = ["pending", "given"]
GUARDIAN_CONSENT_TEXT = ("pending: a minor's own decision, which grants nothing optional; given: a guardian's decision "
                         "for the minor, recorded by the site's backend; null: no minor.")


class ConsentResultSchema(Answer):
    receipt_id = fields.String(required=True)
    receipt = Component("Receipt", required=True)
    signature = fields.String(required=True)
    jws = Component("ReceiptJws", required=True)
    receipt_token = fields.String(required=True)
    receipt_url = fields.String(required=True)
    expires_at = fields.String(required=True, metadata={"description": EXPIRES_AT})
    expires_at_ms = fields.Integer(required=True, metadata={"description": EXPIRES_AT_MS})
    subject_verified = fields.Boolean(metadata={"description": "The subject_id sent is bound to the decision."})
    subject_problem = fields.String(
        allow_none=True,
        validate=validate.OneOf(["subject_token_missing", "subject_token_invalid", "subject_token_expired"]),
        metadata={"description": "Why a subject_id sent was not bound (the decision is the visitor's)."})


class HistoryLinkSchema(Answer):
    history_url = fields.String(required=True)
    expires_in = fields.Integer(required=True)


class DecisionInForceSchema(Answer):
    policy_version = fields.String(required=True)
    choices = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True)
    do_not_track = fields.Boolean(required=True)
    age_statement = fields.String(required=True, allow_none=True, metadata={
        "description": "adult, minor (under_14 from older widgets), or null without an age gate."})
    guardian_consent = fields.String(allow_none=True, validate=validate.OneOf(GUARDIAN_CONSENT), metadata={
        "description": GUARDIAN_CONSENT_TEXT})
    decided_at = fields.String(required=True)
    decided_at_ms = fields.Integer(required=True)
    receipt_id = fields.String(required=True)
    receipt_token = fields.String(required=True)
    expires_at = fields.String(required=True, metadata={"description": EXPIRES_AT})
    expires_at_ms = fields.Integer(required=True, metadata={"description": EXPIRES_AT_MS})


class SubjectDecisionSchema(Answer):
    decision = fields.Nested(DecisionInForceSchema, required=True, allow_none=True, metadata={
        "description": "The user's latest verified decision; null without one, or once it has expired."})


class WidgetRecipientSchema(Answer):
    name = fields.String(required=True)
    contact = fields.String(required=True)
    purpose = fields.String(required=True)
    country = fields.String(required=True, allow_none=True)
    rights = fields.String(metadata={"description": "How to exercise one's rights with the recipient, if declared."})


class WidgetCookieSchema(Answer):
    """A declared cookie in short keys, defaults left out (consent/sites/cookie_declarations.py)."""

    name = fields.String(data_key="n", metadata={"description": "The exact name; either this or p."})
    pattern = fields.String(data_key="p", metadata={"description": "A name pattern, * any run of characters."})
    domain = fields.String(data_key="d", metadata={
        "description": "The declared domain, tried besides the host, .host and the registrable domain."})
    path = fields.String(data_key="h", metadata={"description": "The path; absent: /."})
    party = fields.String(data_key="t", validate=validate.OneOf(["3"]), metadata={
        "description": "\"3\": a third party's cookie, on its own domain; absent: first party."})
    lifetime = fields.String(data_key="l", metadata={"description": "How long it lasts, as text, if declared."})
    description = fields.String(data_key="x", metadata={"description": "What it is for, if declared."})


class WidgetStorageSchema(Answer):
    """A declared localStorage or sessionStorage key in short keys (consent/sites/cookie_declarations.py)."""

    name = fields.String(data_key="n", metadata={"description": "The exact key; either this or p."})
    pattern = fields.String(data_key="p", metadata={"description": "A key pattern, * any run of characters."})
    area = fields.String(data_key="a", required=True, validate=validate.OneOf(["l", "s", "b"]), metadata={
        "description": "l: localStorage, s: sessionStorage, b: both."})
    description = fields.String(data_key="x", metadata={"description": "What it is for, if declared."})


class WidgetPurposeSchema(Answer):
    id = fields.String(required=True)
    tags = fields.List(fields.String(validate=validate.OneOf(vocabulary.TAGS)), required=True, metadata={
        "description": "What the purpose is about (README, \"Configure a site\"); \"profiling\" sets personalized."})
    required = fields.Boolean(required=True, metadata={
        "description": "Not a switch: the purpose is not based on consent (see basis)."})
    tracking = fields.Boolean(required=True)
    sensitive = fields.Boolean(required=True, metadata={"description": "It processes sensitive personal information."})
    basis = fields.String(validate=validate.OneOf([code for code in vocabulary.LEGAL_BASES if code != "consent"]),
                          metadata={"description": "The legal basis when it is not consent; absent: consent."})
    separate = fields.Boolean(validate=validate.Equal(True), metadata={
        "description": "true: granted only in its own step, with separate consent; absent: not."})
    ask = fields.String(metadata={"description": "Asked at the moment of use (Consent.ask), never in the banner: "
                                                 "when, in words; absent: asked in the banner."})
    requires = fields.List(fields.String(), metadata={
        "description": "Purposes that must be granted for this one to be; absent: none."})
    retention = fields.String(metadata={"description": "How long the information is kept, if declared."})
    sources = fields.String(metadata={"description": "Where the information comes from, if declared."})
    refusal = fields.String(metadata={"description": "What refusing means for the visitor, if declared."})
    title = fields.String(required=True)
    # Both always in the full view, absent in the banner view (only the lazy part shows them).
    description = fields.String()
    recipients = fields.List(fields.Nested(WidgetRecipientSchema))
    cookies = fields.List(fields.Nested(WidgetCookieSchema), metadata={
        "description": "Cleared when the purpose is refused or withdrawn; absent when none are declared."})
    storage = fields.List(fields.Nested(WidgetStorageSchema), metadata={
        "description": "Storage keys cleared with the cookies; absent when none are declared."})


class WidgetPolicySchema(Answer):
    version = fields.String(required=True)
    url = fields.String(required=True)
    changes = fields.String(required=True, allow_none=True)
    archive_url = fields.String(required=True)


class WidgetTextsSchema(Answer):
    title = fields.String(required=True)
    intro = fields.String(required=True)


class WidgetConfigSchema(Answer):
    """GET /api/v1/sites/<site>/config: a site's configuration as the widget shows it, in one language."""

    site_id = fields.String(required=True)
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))
    name = fields.String(required=True)
    controller = fields.String(required=True)
    policy = fields.Nested(WidgetPolicySchema, required=True)
    texts = fields.Nested(WidgetTextsSchema, required=True)
    purposes = fields.List(fields.Nested(WidgetPurposeSchema), required=True)
    age_gate = fields.Boolean(required=True)
    age_threshold = fields.Integer(validate=validate.OneOf([14, 18]), metadata={
        "description": "With age_gate: under this age a guardian decides."})
    lifetime_months = fields.Integer(required=True, validate=validate.Range(1, MAX_MONTHS), metadata={
        "description": "How many calendar months a decision lasts: its expiry is its time plus these months, "
                       "on the month's last day where that month is shorter."})
    cookie_domain = fields.String(metadata={
        "description": "Where the widget sets its decision cookie on hosts under it; absent: the page's own host."})
    reload_on_withdrawal = fields.Boolean(metadata={
        "description": "true: reload the page after a withdrawal; absent: do not."})
    funnel = fields.Boolean(metadata={
        "description": "true: send the anonymous banner marks (POST .../funnel); absent: the site turned them off."})
    view = fields.String(validate=validate.OneOf(["banner"]), metadata={
        "description": "banner (with ?view=banner): purposes without description and recipients, cookies without "
                       "lifetime and description, only the banner's strings; absent: the full configuration."})
    strings = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class PurposeDecisionSchema(Answer):
    granted = fields.Boolean(required=True)
    verified = fields.Boolean(required=True, metadata={
        "description": "A subject token bound the decision to the user; unverified never grants."})
    decided_at = fields.String(required=True, allow_none=True)
    receipt_id = fields.String(required=True, allow_none=True, metadata={
        "description": "The receipt proving the answer; null without a record."})
    recorded_at = fields.String(required=True, allow_none=True)
    separate_consent = fields.Boolean(required=True)
    expires_at = fields.String(required=True, allow_none=True, metadata={"description": EXPIRES_AT
                                                                           + " Null without a record."})
    expired_at = fields.String(required=True, allow_none=True, metadata={"description": EXPIRED_AT})


class SubjectConsentsSchema(Answer):
    site_id = fields.String(required=True)
    subject_id = fields.String(required=True)
    has_record = fields.Boolean(required=True)
    verified = fields.Boolean(required=True)
    policy_version = fields.String(required=True, allow_none=True)
    current_policy_version = fields.String(required=True)
    guardian_consent = fields.String(required=True, allow_none=True, validate=validate.OneOf(GUARDIAN_CONSENT),
                                     metadata={"description": GUARDIAN_CONSENT_TEXT})
    expires_at = fields.String(required=True, allow_none=True, metadata={"description": EXPIRES_AT
                                                                           + " Null without a record."})
    expired_at = fields.String(required=True, allow_none=True, metadata={"description": EXPIRED_AT})
    purposes = fields.Dict(keys=fields.String(), values=fields.Nested(PurposeDecisionSchema), required=True)


class SubjectPurposeDecisionSchema(PurposeDecisionSchema):
    subject_id = fields.String(required=True)


class ConsentQueryResultSchema(Answer):
    site_id = fields.String(required=True)
    purpose = fields.String(required=True)
    allowed = fields.List(fields.String(), required=True)
    results = fields.List(fields.Nested(SubjectPurposeDecisionSchema), required=True)


class ErasureSchema(Answer):
    site_id = fields.String(required=True)
    erased = fields.Boolean(required=True)
    requested_at = fields.String(required=True)


class GuardianPendingSubjectSchema(Answer):
    subject_id = fields.String(required=True, metadata={"description": "The site's own user id."})
    subject_ref = fields.String(required=True, metadata={
        "description": "The user's pseudonym, as receipts name them (piiPrincipalId subject:<pseudonym>)."})
    receipt_id = fields.String(required=True, metadata={"description": "The receipt of the minor's own decision."})
    decided_at = fields.String(required=True)
    recorded_at = fields.String(required=True)
    policy_version = fields.String(required=True)
    age_statement = fields.String(required=True, validate=validate.OneOf(["minor", "under_14"]))
    age_threshold = fields.Integer(required=True, metadata={"description": "The site's threshold at the time."})
    expires_at = fields.String(required=True, metadata={
        "description": EXPIRES_AT + " Listed after it too: no guardian decided yet."})
    seq = fields.Integer(required=True, metadata={"description": SEQ})
    lane = fields.Integer(required=True, validate=validate.Range(min=0), metadata={"description": LANE})


class GuardianPendingSchema(Answer):
    site_id = fields.String(required=True)
    age_threshold = fields.Integer(required=True, validate=validate.OneOf(AGE_THRESHOLDS))
    subjects = fields.List(fields.Nested(GuardianPendingSubjectSchema), required=True, metadata={
        "description": "In chain order, lane by lane (oldest first within a lane); erased users are left out."})
    next_after = fields.Integer(required=True, allow_none=True, metadata={"description": NEXT_AFTER})
    next = fields.String(required=True, allow_none=True)


class CheckpointSchema(Answer):
    site_id = fields.String(required=True)
    count = fields.Integer(required=True, validate=validate.Range(min=0))
    head_hash = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    time = fields.String(required=True)
    lane = fields.Integer(validate=validate.Range(min=0), metadata={
        "description": "Which of the site's chains it covers: 0, the only one today. Absent from checkpoints "
                       "signed before lanes were named."})
    kid = fields.String(required=True)
    jws = fields.String(required=True, metadata={
        "description": "Compact JWS over {site_id, count, head_hash, time, lane}."})


class CheckpointsSchema(Answer):
    checkpoints = fields.List(fields.Nested(CheckpointSchema), required=True)


class CheckpointsPageSchema(CheckpointsSchema):
    next_after = fields.Integer(required=True, allow_none=True)
    next = fields.String(required=True, allow_none=True)


class AuditEventSchema(Answer):
    seq = fields.Integer(required=True, metadata={"description": SEQ})
    lane = fields.Integer(required=True, validate=validate.Range(min=0), metadata={"description": LANE})
    event_id = fields.String(required=True)
    receipt_id = fields.String(required=True)
    recorded_at = fields.String(required=True)
    subject_ref = fields.String(required=True, allow_none=True)
    visitor_id = fields.String()
    policy_version = fields.String()
    language = fields.String()
    action = fields.String(required=True)
    choices = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True)
    separate_consents = fields.List(fields.String())
    signals = fields.Dict()
    prev_hash = fields.String(required=True)
    event_hash = fields.String(required=True)
    document = fields.String(required=True, metadata={
        "description": "The exact hashed text: SHA-256 of it is event_hash."})


class AuditEventsPageSchema(Answer):
    events = fields.List(fields.Nested(AuditEventSchema), required=True, metadata={
        "description": "In chain order, lane by lane."})
    next_after = fields.Integer(required=True, allow_none=True, metadata={"description": NEXT_AFTER})
    next = fields.String(required=True, allow_none=True)


class ReceiptVerificationSchema(Answer):
    valid = fields.Boolean(required=True)


class ReceiptProofSchema(Answer):
    receipt_id = fields.String(required=True)
    receipt = Component("Receipt", required=True)
    signature = fields.String(required=True)
    jws = Component("ReceiptJws", required=True)
    verification = fields.Nested(ReceiptVerificationSchema, required=True)
    event = fields.Nested(AuditEventSchema, required=True)
