"""The site configuration an operator imports (YAML) or saves in the console, validated. Unknown keys are refused.

README, "Configure a site", documents every field; consent/sites/vocabulary.py holds the fixed words,
consent/sites/purposes.py what a purpose's fields mean once published.
"""
from datetime import date, datetime
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from consent.config import LANGUAGES
from consent.ledger.lanes import MAX_LANES
from consent.ledger.lifetime import DEFAULT_MONTHS, MAX_MONTHS
from consent.schemas import NO_CONTROL_CHARACTERS, PURPOSE_ID, SITE_ID, Localized, StrictBoolean, StrictInteger
from consent.sites import cookie_declarations as declared
from consent.sites import vocabulary
from consent.sites.controller import ControllerSchema
from consent.stats import days

ORIGIN = validate.Regexp(
    r"\Ahttps?://[A-Za-z0-9.-]+(:[0-9]{1,5})?\Z", error="An origin is scheme://host[:port], nothing after it."
)
# A host name two labels or more long, lower case, no port (the last label starts with a letter: no IP).
DOMAIN_NAME = r"(?=.{4,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?"
# Where a site's decision cookie is set so that its subdomains share it ("example.com" covers www. and console.).
COOKIE_DOMAIN = validate.Regexp(
    rf"\A{DOMAIN_NAME}\Z",
    error="A domain name such as example.com: lower case, at least two labels, no port, no leading dot.",
)
# The Domain a declared cookie is set on, as browsers show it: with or without its leading dot.
DECLARED_COOKIE_DOMAIN = validate.Regexp(
    rf"\A\.?{DOMAIN_NAME}\Z", error="A domain name such as .example.com or example.com: lower case, no port."
)
PURPOSE_KINDS = ("cookie", "marketing", "profiling", "other")
# Google Consent Mode v2's consent types (developers.google.com/tag-platform/security/guides/consent).
CONSENT_MODE_TYPES = ("ad_storage", "ad_user_data", "ad_personalization", "analytics_storage",
                      "functionality_storage", "personalization_storage", "security_storage")
# A site's age threshold: PIPL art. 31's 14 by default; some services ask a guardian for everyone under 18.
AGE_THRESHOLDS = (14, 18)
MAX_TAGS = 8


def one_of(table, what):
    """A value from one of vocabulary's tables, with an error that lists them."""
    return validate.OneOf(table, error=f"Not a {what}; use one of: {', '.join(table)}.")


def words(table, what, most=20):
    """A list of distinct codes from a vocabulary table."""
    return fields.List(fields.String(validate=one_of(table, what)), validate=validate.And(validate.Length(1, most),
                                                                                          each_once))


def each_once(codes):
    if len(set(codes)) != len(codes):
        raise ValidationError("List each only once.")


class RecipientSchema(Schema):
    """Someone the purpose's information goes to. A role of "handler" or "joint_handler" makes the purpose
    need separate consent (PIPL art. 23); a country other than the site's jurisdiction calls for the
    overseas_transfer ground (art. 39), which the operator declares on the purpose."""

    name = Localized(max_length=200, required=True)
    contact = fields.String(required=True, validate=validate.Length(1, 200))
    purpose = Localized(max_length=500, required=True)
    country = fields.String(validate=validate.Regexp(r"\A[A-Z]{2}\Z", error="An ISO 3166 country code."))
    role = fields.String(validate=one_of(vocabulary.RECIPIENT_ROLES, "recipient role"))
    data = words(vocabulary.PI_CATEGORIES, "category of personal information")  # what it receives
    rights = Localized(max_length=500)  # how to exercise one's rights with the recipient


COOKIE_NAME = validate.Regexp(declared.COOKIE_NAME, error=(
    "A cookie name: 1-100 letters, digits or !#$%&'+-.^_`|~ (RFC 6265); with a *, write pattern: instead."))


class CookieSchema(Schema):
    """A cookie a purpose sets or lets a partner set (consent/sites/cookie_declarations.py). Left out, path is
    "/" and party "first", not filled in: an export keeps the operator's shape. The lifetime is text in both
    languages, not an ISO 8601 duration ("session" is none; README, "Cookies and storage per purpose")."""

    name = fields.String(validate=COOKIE_NAME)
    pattern = fields.String(validate=validate.Regexp(declared.COOKIE_PATTERN, error=(
        "A pattern: 2-100 cookie-name characters with at least one * (any run of characters) and one other.")))
    domain = fields.String(validate=DECLARED_COOKIE_DOMAIN)
    path = fields.String(validate=validate.Regexp(declared.COOKIE_PATH, error=(
        "A path starts with / and holds 1-200 visible ASCII characters but ;.")))
    lifetime = Localized(max_length=50)
    party = fields.String(validate=validate.OneOf(declared.PARTIES))
    description = Localized(max_length=300)

    @validates_schema
    def one_name_or_pattern(self, data, **_kwargs):
        if ("name" in data) == ("pattern" in data):
            raise ValidationError("Give either name (one cookie) or pattern (a family of them).", "name")


class CookieDeclaration(fields.Field):
    """A cookie of a purpose: a plain name (exact, first party, no description) or a CookieSchema object."""
    default_error_messages = {"invalid": "A cookie name, or an object with a name or a pattern."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            COOKIE_NAME(value)
            return value
        if isinstance(value, dict):
            return CookieSchema().load(value)
        raise self.make_error("invalid")


class StorageSchema(Schema):
    """A localStorage or sessionStorage key a purpose keeps; left out, area is "both"."""

    key = fields.String(validate=validate.Regexp(declared.STORAGE_KEY, error=(
        "A key: 1-200 characters, no control characters; with a *, write pattern: instead.")))
    pattern = fields.String(validate=validate.Regexp(declared.STORAGE_PATTERN, error=(
        "A pattern: 2-200 characters with at least one * (any run of characters) and one other.")))
    area = fields.String(validate=validate.OneOf(declared.STORAGE_AREAS))
    description = Localized(max_length=300)

    @validates_schema
    def one_key_or_pattern(self, data, **_kwargs):
        if ("key" in data) == ("pattern" in data):
            raise ValidationError("Give either key (one entry) or pattern (a family of them).", "key")


class PurposeSchema(Schema):
    id = fields.String(required=True, validate=PURPOSE_ID)
    # What the purpose is about: several tags, or (the older form) one kind.
    tags = words(vocabulary.TAGS, "tag", most=MAX_TAGS)
    kind = fields.String(validate=validate.OneOf(PURPOSE_KINDS))
    # Why the site may process: consent (the visitor's switch) or another basis of PIPL art. 13 (information).
    legal_basis = fields.String(validate=one_of(vocabulary.LEGAL_BASES, "legal basis"))
    # The older way to say "not a switch": required alone is the contract basis.
    required = StrictBoolean(load_default=False)
    tracking = StrictBoolean(load_default=False)
    sensitive = StrictBoolean(load_default=False)  # the older form of sensitive_categories, without a category
    pi_categories = words(vocabulary.PI_CATEGORIES, "category of personal information")
    sensitive_categories = words(vocabulary.SENSITIVE_CATEGORIES, "category of sensitive personal information")
    # Grounds for separate consent beyond those that follow from the purpose (consent/sites/purposes.py).
    separate_consent = words(vocabulary.SEPARATE_GROUNDS, "ground for separate consent")
    # Purposes that must be granted for this one to be (e.g. email open-tracking needs marketing email).
    requires = fields.List(fields.String(validate=PURPOSE_ID), validate=validate.And(validate.Length(1, 29), each_once))
    # Asked at the moment of use (Consent.ask), never in the banner: when, as the preference centre says it.
    in_context = Localized(max_length=200)
    retention = Localized(max_length=500)
    sources = Localized(max_length=500)
    refusal_consequence = Localized(max_length=500)
    title = Localized(max_length=100, required=True)
    description = Localized(max_length=1000, required=True)
    # Cleared by the widget when the purpose is refused or withdrawn, and listed in the preference centre.
    cookies = fields.List(CookieDeclaration(), load_default=list,
                          validate=validate.Length(max=100, error="At most 100 cookies per purpose."))
    storage = fields.List(fields.Nested(StorageSchema), load_default=list,
                          validate=validate.Length(max=100, error="At most 100 storage keys per purpose."))
    recipients = fields.List(fields.Nested(RecipientSchema), load_default=list)

    @validates_schema
    def tagged_once(self, data, **_kwargs):
        if ("tags" in data) == ("kind" in data):
            raise ValidationError("Give tags (one or several), or the older kind, not both.", "tags")

    @validates_schema
    def consent_only_where_a_choice_exists(self, data, **_kwargs):
        basis = data.get("legal_basis")
        if basis == vocabulary.CONSENT and data.get("required"):
            raise ValidationError("A purpose based on consent can always be refused: leave required out, or "
                                  "name the legal basis that makes it necessary.", "required")
        if data.get("required") or (basis and basis != vocabulary.CONSENT):
            for key in ("tracking", "in_context", "separate_consent"):
                if data.get(key):
                    raise ValidationError(f"{key} needs the visitor's consent, and this purpose is not based on "
                                          "consent.", key)

    @post_load
    def not_a_switch_unless_consent(self, data, **_kwargs):
        # Every reader of `required` (choices, widget, receipts) then treats it as information, not a switch.
        if data.get("legal_basis", vocabulary.CONSENT) != vocabulary.CONSENT:
            data["required"] = True
        return data


class EffectiveDate(fields.Date):
    """A day: YAML's own date (2024-03-21 unquoted) or the text "2024-03-21"; not a time of day."""
    default_error_messages = {"invalid": "A date written YYYY-MM-DD, such as 2024-03-21."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class PolicySchema(Schema):
    version = fields.String(required=True, validate=validate.And(validate.Length(1, 64), NO_CONTROL_CHARACTERS))
    url = fields.URL(required=True, schemes={"http", "https"})
    text = Localized(max_length=200_000, required=True)
    changes = Localized(max_length=2000)
    # From when the policy applies, as the policy itself states it; part of the version, like its text.
    effective_date = EffectiveDate()


class BannerTextsSchema(Schema):
    title = Localized(max_length=100, required=True)
    intro = Localized(max_length=1000, required=True)


class WebhookSchema(Schema):
    """Where consent changes are POSTed; the secret is generated when left out and never exported."""

    url = fields.URL(required=True, schemes={"http", "https"}, require_tld=False)
    secret = fields.String(validate=validate.Length(16, 128))


def iana_zone(name):
    if not days.is_zone(name):
        raise ValidationError("Name an IANA time zone, such as Asia/Shanghai or Europe/Berlin.")


class SiteConfigSchema(Schema):
    id = fields.String(required=True, validate=SITE_ID)
    name = Localized(max_length=200, required=True)
    controller = fields.Nested(ControllerSchema, required=True)
    jurisdiction = fields.String(required=True, validate=validate.Regexp(r"\A[A-Z]{2}\Z"))
    default_language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))
    allowed_origins = fields.List(fields.String(validate=ORIGIN), required=True, validate=validate.Length(1, 50))
    policy = fields.Nested(PolicySchema, required=True)
    texts = fields.Nested(BannerTextsSchema, required=True)
    purposes = fields.List(fields.Nested(PurposeSchema), required=True, validate=validate.Length(1, 30))
    age_gate = StrictBoolean(load_default=False)
    # Under it, a visitor's optional purposes wait for a guardian (README, "Minors and guardians").
    age_threshold = StrictInteger(load_default=14, validate=validate.OneOf(
        AGE_THRESHOLDS, error="The age threshold is 14 (PIPL art. 31, the default) or 18."))
    webhook = fields.Nested(WebhookSchema, load_default=None, allow_none=True)
    # Share one decision between the site's subdomains: the widget sets its cookie on this domain
    # wherever the page's host is under it (elsewhere, on the page's own host).
    cookie_domain = fields.String(load_default=None, allow_none=True, validate=COOKIE_DOMAIN)
    # The IANA zone statistics count the site's days in; left out, its jurisdiction's (consent/stats/days.py).
    time_zone = fields.String(load_default=None, allow_none=True, validate=iana_zone)
    # How many calendar months a decision lasts before the visitor is asked again (consent/ledger/lifetime.py).
    consent_lifetime_months = StrictInteger(
        load_default=DEFAULT_MONTHS,
        # No {input} in the message: YAML reads a number of any length, and Python refuses to print one
        # of over 4,300 digits.
        validate=validate.Range(1, MAX_MONTHS, error=f"A decision lasts 1 to {MAX_MONTHS} months "
                                                     f"({DEFAULT_MONTHS} if left out)."),
        error_messages={
            "invalid": f"Give a whole number of months from 1 to {MAX_MONTHS}, without quotes or decimals.",
            "null": f"Give a whole number of months from 1 to {MAX_MONTHS}, or leave the key out for {DEFAULT_MONTHS}.",
        },
    )
    # How many lanes (hash chains) the site's log is split into, so that its writers on PostgreSQL need not wait
    # for one another (consent/ledger/lanes.py). Only ever raised; left out: as it is (1 for a new site).
    lanes = StrictInteger(
        load_default=None, allow_none=True,
        validate=validate.Range(1, MAX_LANES, error=f"A site's log has 1 to {MAX_LANES} lanes."),
        error_messages={"invalid": f"Give a whole number of lanes from 1 to {MAX_LANES}, without quotes."},
    )
    # Google Consent Mode: which purposes grant each consent type (all of them must be granted).
    google_consent_mode = fields.Dict(
        keys=fields.String(validate=validate.OneOf(CONSENT_MODE_TYPES)),
        values=fields.List(fields.String(validate=PURPOSE_ID), validate=validate.Length(1, 30)),
        load_default=None, allow_none=True,
    )
    # After a withdrawal the widget reloads the page: trackers already running stop (gated scripts stay inert).
    reload_on_withdrawal = StrictBoolean(load_default=False)
    # The widget sends its anonymous banner marks, shown and decided (README, "Banner statistics"); false: none.
    banner_statistics = StrictBoolean(load_default=True)

    @validates_schema
    def declarations_can_be_cleared(self, data, **_kwargs):
        problems = declared.declaration_problems(data)
        if problems:
            raise ValidationError(problems)

    @validates_schema
    def purposes_are_coherent(self, data, **_kwargs):
        purpose_ids = [purpose["id"] for purpose in data.get("purposes", [])]
        if len(set(purpose_ids)) != len(purpose_ids):
            raise ValidationError("Purpose ids must be unique.", "purposes")
        if not any(purpose["required"] for purpose in data.get("purposes", [])):
            raise ValidationError("Declare the strictly necessary purpose (required: true).", "purposes")
        origins = data.get("allowed_origins", [])
        if len(set(origins)) != len(origins):
            raise ValidationError("Allowed origins must be unique.", "allowed_origins")
        domain = data.get("cookie_domain")
        purpose_ids = set(purpose_ids)
        requirement_problems(data.get("purposes", []))
        for consent_type, mapped in (data.get("google_consent_mode") or {}).items():
            if set(mapped) - purpose_ids:
                raise ValidationError(f"{consent_type}: {', '.join(sorted(set(mapped) - purpose_ids))} is not a "
                                      "purpose of this site.", "google_consent_mode")
        hosts = [urlsplit(origin).hostname for origin in origins]
        if domain and not any(host == domain or host.endswith("." + domain) for host in hosts):
            raise ValidationError("The cookie domain must be the host of an allowed origin, or a domain one of "
                                  "them is under.", "cookie_domain")


def requirement_problems(purposes):
    """Refuse `requires` that name no purpose of the site, a purpose itself, a cycle, or, from a purpose the
    visitor cannot refuse, a purpose they can."""
    by_id = {purpose["id"]: purpose for purpose in purposes}
    for purpose in purposes:
        for required_id in purpose.get("requires", []):
            if required_id not in by_id:
                raise ValidationError(f"{purpose['id']} requires {required_id}, which is not a purpose of this site.",
                                      "purposes")
            if purpose["required"] and not by_id[required_id]["required"]:
                raise ValidationError(f"{purpose['id']} is not based on consent, so it cannot require {required_id}, "
                                      "which the visitor may refuse.", "purposes")

    def reaches_itself(start):
        seen, pending = set(), list(by_id[start].get("requires", []))
        while pending:
            current = pending.pop()
            if current == start:
                return True
            if current not in seen:
                seen.add(current)
                pending.extend(by_id[current].get("requires", []))
        return False

    looping = sorted(purpose_id for purpose_id in by_id if reaches_itself(purpose_id))
    if looping:
        raise ValidationError(f"These purposes require each other in a loop: {', '.join(looping)}.", "purposes")
