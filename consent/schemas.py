"""Every input shape the service accepts, validated in one place. Unknown keys are refused."""
import re
from datetime import UTC

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from consent.config import LANGUAGES
from consent.errors import InvalidRequest
from consent.sites.config_errors import language_problems

# \A and \Z, not ^ and $: "$" would let a trailing newline through.
SITE_ID_PATTERN = re.compile(r"\A[a-z0-9][a-z0-9-]{0,63}\Z")
SITE_ID = validate.Regexp(SITE_ID_PATTERN, error="Use 1-64 lowercase letters, digits or '-'.")
PURPOSE_ID_PATTERN = re.compile(r"\A[a-z][a-z0-9_]{0,63}\Z")
PURPOSE_ID = validate.Regexp(PURPOSE_ID_PATTERN, error="Use 1-64 lowercase letters, digits or '_'.")
# Names stored as keys (user ids, policy versions): no control characters (PostgreSQL refuses NUL),
# and no lone surrogates (JSON can carry "\ud800", which no UTF-8 text, and so no HMAC input, can hold).
NO_CONTROL_CHARACTERS = validate.Regexp(r"\A[^\x00-\x1f\x7f\ud800-\udfff]+\Z",
                                        error="No control characters or lone surrogates.")
SUBJECT_ID = validate.And(validate.Length(1, 128), NO_CONTROL_CHARACTERS)
TOKEN = validate.Regexp(r"\A[A-Za-z0-9_-]{8,64}\Z", error="Use 8-64 characters from A-Z a-z 0-9 _ -.")
# A visitor's credential: random, at least 128 bits (32 hex digits or 22 base64url characters).
VISITOR_SECRET = validate.Regexp(r"\A[A-Za-z0-9_-]{22,128}\Z", error="Use 22-128 characters from A-Z a-z 0-9 _ -.")
# Parsed exactly by consent.subjects.tokens; here only bounded, so a malformed one is "not proven", not 422.
SUBJECT_TOKEN = validate.And(validate.Length(1, 200), NO_CONTROL_CHARACTERS)
# A cursor of a paged list of events: the position of the last one seen, lane × 2**32 + seq (consent/ledger/lanes.py;
# on a log of one lane, its seq). Below 2**63, so that both of its parts bind as BIGINT on either backend.
POSITION = validate.Range(0, 2**63 - 1)
POSITION_DESCRIPTION = (" A position is lane × 2^32 (4294967296) + seq, the seq itself in lane 0: positions follow "
                        "chain order, lane by lane.")
UUID_TEXT = validate.Regexp(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", error="A UUID.")


class StrictBoolean(fields.Boolean):
    """true or false only: "yes", 1 or "on" would make a consent ambiguous."""
    default_error_messages = {"invalid": "Must be true or false."}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Choices(fields.Dict):
    """{purpose id: true or false}, each pair checked in one pass, refusals shaped as fields.Dict shapes them
    ({id: {"key": [...], "value": [...]}}). The generic Dict ran a key and a value field per purpose: 40% of
    loading a decision (issue 18). The two fields are still given, for the API's description (consent/openapi.py)."""

    def __init__(self, **kwargs):
        super().__init__(keys=fields.String(validate=PURPOSE_ID), values=StrictBoolean(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        errors = {}
        for key, given in value.items():
            problems = {}
            if not isinstance(key, str) or not PURPOSE_ID_PATTERN.match(key):
                problems["key"] = [PURPOSE_ID.error]
            if not isinstance(given, bool):
                problems["value"] = self.value_field.make_error("null" if given is None else "invalid").messages
            if problems:
                errors[key] = problems
        if errors:
            raise ValidationError(errors)
        return dict(value)


class StrictInteger(fields.Integer):
    """A whole number written as one: "12", 12.0, 1.5 or true (which Python counts as 1) are refused."""
    default_error_messages = {"invalid": "Must be a whole number, written without quotes."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class Localized(fields.Dict):
    """A text given in every supported language: {"zh-CN": "...", "en": "..."}; refusals name the languages
    missing ("The English (en) text is missing.") and those unexpected."""

    def __init__(self, max_length=2000, **kwargs):
        super().__init__(keys=fields.String(), values=fields.String(validate=validate.Length(1, max_length)), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        if problems := language_problems(result):
            raise ValidationError(problems)
        return result


# --- Public API -------------------------------------------------------------------------------


class SignalsSchema(Schema):
    dnt = StrictBoolean(load_default=False)
    gpc = StrictBoolean(load_default=False)


class ConsentRequestSchema(Schema):
    """POST /api/v1/consents."""

    site_id = fields.String(required=True, validate=SITE_ID)
    # The site's user (consent.subjects.identity).
    subject_id = fields.String(load_default=None, allow_none=True, validate=SUBJECT_ID,
                               metadata={"description": "Bound to the decision only with a valid subject_token."})
    subject_token = fields.String(load_default=None, allow_none=True, validate=SUBJECT_TOKEN)
    # The credential only the visitor's browser holds; we keep a keyed hash of it.
    visitor_secret = fields.String(load_default=None, allow_none=True, validate=VISITOR_SECRET)
    # Sent by widgets older than verified subjects; it proves nothing, so it is accepted and ignored.
    visitor_id = fields.String(load_default=None, allow_none=True, validate=TOKEN,
                               metadata={"deprecated": True, "description": "Sent by older widgets; ignored."})
    # Orders decisions sent late.
    decided_at = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(0, 10**14),
                                metadata={"description": "When the visitor decided, milliseconds since 1970 "
                                                         "by their clock."})
    # collection_method "link": the visitor's anonymous decision (this receipt) now made as the
    # subject they logged in as.
    links_receipt_id = fields.String(load_default=None, allow_none=True, validate=UUID_TEXT)
    choices = Choices(required=True, validate=validate.Length(1, 30))
    policy_version = fields.String(required=True, validate=validate.Length(1, 64))
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))
    signals = fields.Nested(SignalsSchema, load_default=lambda: {"dnt": False, "gpc": False})
    do_not_track = StrictBoolean(load_default=False)
    collection_method = fields.String(
        load_default="banner",
        validate=validate.OneOf(["banner", "preference_centre", "embed", "in_context", "api", "link"]),
    )
    idempotency_key = fields.String(load_default=None, allow_none=True, validate=TOKEN)
    # Sensitive purposes the visitor granted in their own, separate step (never via "Accept all").
    separate_consents = fields.List(
        fields.String(validate=PURPOSE_ID), load_default=list, validate=validate.Length(0, 30)
    )
    # Required by sites with an age gate: "minor" (under the site's age threshold; "under_14" from older
    # widgets) records the decision as awaiting a guardian.
    age_statement = fields.String(load_default=None, allow_none=True,
                                  validate=validate.OneOf(["adult", "minor", "under_14"]), metadata={
                                      "description": "Sites with an age gate: adult, or minor (under the site's "
                                                     "age threshold; under_14, from older widgets, counts as minor)."})

    @validates_schema
    def links_name_their_receipt(self, data, **_kwargs):
        if (data.get("collection_method") == "link") != (data.get("links_receipt_id") is not None):
            raise ValidationError("collection_method \"link\" and links_receipt_id go together.", "links_receipt_id")


class VisitorProofSchema(Schema):
    """What proves a visitor to the service: their credential, or their site's subject token, or both.

    POST /api/v1/sites/<site>/history-link and .../subject-decision.
    """

    visitor_secret = fields.String(load_default=None, allow_none=True, validate=VISITOR_SECRET)
    subject_id = fields.String(load_default=None, allow_none=True, validate=SUBJECT_ID)
    subject_token = fields.String(load_default=None, allow_none=True, validate=SUBJECT_TOKEN)


# The banner's anonymous marks (README, "Banner statistics"): the banner was shown, or the visitor decided from it.
FUNNEL_DECISIONS = ("accept_all", "reject_all", "custom")
FUNNEL_MARKS = ("shown", *FUNNEL_DECISIONS)
MAX_MARK_SECONDS = 24 * 3600  # taken up to a day from shown to decided (a tab left open), stored capped lower


class FunnelMarkSchema(Schema):
    """POST /api/v1/sites/<site>/funnel: one anonymous mark of the banner, with nothing about who sent it."""

    mark = fields.String(required=True, validate=validate.OneOf(FUNNEL_MARKS), metadata={
        "description": "shown: the banner with the choice buttons was shown; else the decision made from it."})
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES), metadata={
        "description": "The language the banner was shown in."})
    seconds = StrictInteger(validate=validate.Range(0, MAX_MARK_SECONDS),
                            metadata={"description": "Decisions only, and required for them: whole seconds from "
                                                     "the banner shown to the decision."})

    @validates_schema
    def seconds_go_with_decisions(self, data, **_kwargs):
        if data["mark"] == "shown" and "seconds" in data:
            raise ValidationError("Only a decision says how long it took; leave seconds out of \"shown\".", "seconds")
        if data["mark"] != "shown" and "seconds" not in data:
            raise ValidationError("A decision says how many whole seconds after the banner was shown it came.",
                                  "seconds")


# --- Site backend API (authenticated with the site's API key) ------------------------------------


MAX_BATCH_SUBJECTS = 1000


class ConsentQuerySchema(Schema):
    """POST /api/v1/sites/<site>/consents/query: which of these users may be contacted for a purpose."""

    subjects = fields.List(
        fields.String(validate=SUBJECT_ID),
        required=True,
        validate=validate.Length(1, MAX_BATCH_SUBJECTS, error=f"Send 1 to {MAX_BATCH_SUBJECTS} subjects per query."),
    )
    purpose = fields.String(required=True, validate=PURPOSE_ID)


class GuardianDecisionSchema(Schema):
    """POST /api/v1/sites/<site>/subjects/<subject>/guardian-decision: a guardian's decision for a minor user,
    recorded by the site's backend, which asserts the guardian relation (consent/subjects/guardians.py)."""

    choices = Choices(required=True, validate=validate.Length(1, 30))
    policy_version = fields.String(required=True, validate=validate.Length(1, 64))
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES), metadata={
        "description": "The language the guardian was shown the policy in."})
    do_not_track = StrictBoolean(load_default=False)
    # Sensitive purposes the guardian granted in their own, separate step.
    separate_consents = fields.List(
        fields.String(validate=PURPOSE_ID), load_default=list, validate=validate.Length(0, 30)
    )
    idempotency_key = fields.String(load_default=None, allow_none=True, validate=TOKEN, metadata={
        "description": "Sent again with the same request: the first receipt, nothing recorded."})


class GuardianPendingQuerySchema(Schema):
    """GET /api/v1/sites/<site>/guardian-pending: a page of the minors awaiting a guardian."""
    after = fields.Integer(load_default=0, validate=POSITION, metadata={
        "description": "Only subjects whose pending decision comes after this position in the log: the `next_after` of "
                       "the previous page." + POSITION_DESCRIPTION})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


def load(schema, data):
    """Validate `data` against `schema`, turning every error into one InvalidRequest."""
    if not isinstance(data, dict):
        raise InvalidRequest("The body must be a JSON object.")
    try:
        return schema.load(data)
    except ValidationError as error:
        raise InvalidRequest("The request does not match the schema; see `errors`.",
                             error.normalized_messages()) from None


# --- Auditors ---------------------------------------------------------------------------------


# An auditor's console password: at creation and whenever it is set anew.
AUDITOR_PASSWORD = validate.Length(12, 200)


class AuditorAccountSchema(Schema):
    """`flask consent auditor create`."""
    email = fields.Email(required=True, validate=validate.Length(3, 254))
    sites = fields.List(fields.String(validate=SITE_ID), required=True, validate=validate.Length(1, 100))
    password = fields.String(load_default=None, allow_none=True, validate=AUDITOR_PASSWORD)

    @post_load
    def normalize_email(self, data, **_kwargs):
        return {**data, "email": data["email"].strip().lower()}


class CheckpointPageSchema(Schema):
    """A page of a site's public checkpoint list: those of more than `after` events."""
    after = fields.Integer(load_default=0, validate=validate.Range(0, 2**31 - 1), metadata={
        "description": "Only checkpoints of more events than this: the `next_after` of the previous page."})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


class AuditEventQuerySchema(Schema):
    """Filters of the auditor's event list and export (API query string and console search alike)."""
    site = fields.String(required=True, validate=SITE_ID)
    subject = fields.String(load_default=None, validate=SUBJECT_ID, metadata={"description": "The site's own user id."})
    subject_ref = fields.String(load_default=None, validate=validate.Regexp(r"\A[0-9a-f-]{36}\Z"),
                                metadata={"description": "The pseudonym."})
    since = fields.AwareDateTime(data_key="from", load_default=None, default_timezone=UTC)
    until = fields.AwareDateTime(data_key="to", load_default=None, default_timezone=UTC)
    purpose = fields.String(load_default=None, validate=PURPOSE_ID)
    # With `purpose`: events that granted it (true, the default) or refused it (false).
    granted = fields.Boolean(load_default=True)
    after = fields.Integer(load_default=0, validate=POSITION, metadata={
        "description": "Only events after this position: the `next_after` of the previous page."
                       + POSITION_DESCRIPTION})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    format = fields.String(load_default="jsonl", validate=validate.OneOf(["jsonl", "csv"]))

    @validates_schema
    def time_range_is_ordered(self, data, **_kwargs):
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise ValidationError("`from` must not be after `to`.", "from")

    @post_load
    def times_in_utc(self, data, **_kwargs):
        # Events are stored in UTC; SQLite compares them as text, so the bounds must be UTC too.
        for key in ("since", "until"):
            if data[key] is not None:
                data[key] = data[key].astimezone(UTC)
        return data
