"""Site configuration: import from and export to the YAML an operator keeps under version control."""
import os

import yaml
from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from consent.errors import InvalidRequest, NotFound
from consent.http.links import public_url
from consent.ledger import lifetime
from consent.schemas import SITE_ID, load
from consent.sites import config_errors, cookie_declarations, purposes, webhooks
from consent.sites.config_schema import AGE_THRESHOLDS, SiteConfigSchema
from consent.storage.models import PolicyVersion, Site, SiteOrigin
from consent.storage.operations import SiteWebhook
from consent.subjects import identity

SITE_ID_PATTERN = SITE_ID.regex
PURPOSE_FIELDS = ("id", "required", "tracking", "sensitive", "title", "description", "cookies", "recipients")
# Kept in a purpose's snapshot only when declared: a version published before they existed has none, and
# importing that version again must find it unchanged (consent/sites/purposes.py reads both forms).
PURPOSE_FIELDS_IF_DECLARED = (
    "kind", "tags", "legal_basis", "pi_categories", "sensitive_categories", "separate_consent", "requires",
    "in_context", "retention", "sources", "refusal_consequence", "storage",
)


def read_file(path, max_bytes):
    """A site configuration file's text; InvalidRequest in a sentence if it is over `max_bytes` or not UTF-8 text.

    Never reads more than `max_bytes` and one: a device or a pipe may claim 0 bytes and never end.
    """
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise InvalidRequest(config_errors.too_large(size, max_bytes))
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise InvalidRequest(f"The file cannot be read: {error.strerror or error}.") from error
    if len(data) > max_bytes:
        raise InvalidRequest(config_errors.too_large(None, max_bytes))
    problem = config_errors.encoding_problem(data)
    if problem:
        raise InvalidRequest(problem)
    return data.decode("utf-8")


def parse_yaml(text):
    """Read and validate a site YAML document; InvalidRequest as validate_config, or in a sentence about the file."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidRequest(config_errors.yaml_problem(error, text)) from error
    except RecursionError:  # PyYAML composes nested lists and mappings recursively
        raise InvalidRequest("The file nests lists or mappings too deeply to be read.") from None
    except ValueError as error:  # a number of over 4,300 digits (Python will not read it), a date of month 13
        raise InvalidRequest(config_errors.value_problem(error)) from error
    return validate_config(document)


def validate_config(document):
    """A site configuration checked against SiteConfigSchema.

    InvalidRequest's detail says every problem in a sentence of its own, one a line, naming purposes and other
    list items as the file does (consent/sites/config_errors.py); its errors keep marshmallow's messages.
    """
    problem = config_errors.document_problem(document)
    if problem:
        raise InvalidRequest(problem)
    try:
        return load(SiteConfigSchema(), document)
    except InvalidRequest as error:
        if not error.errors:
            raise
        detail = "\n".join(config_errors.sentences(document, error.errors))
        raise InvalidRequest(detail, error.errors, itemized=True) from None


def purpose_snapshot(purpose):
    """A purpose as its policy version archives it (and the widget and receipts read it)."""
    snapshot = {key: purpose[key] for key in PURPOSE_FIELDS}
    snapshot.update({key: purpose[key] for key in PURPOSE_FIELDS_IF_DECLARED if purpose.get(key)})
    return snapshot


def import_site(session, config):
    """Create or update a site from a validated config; publish its policy version if new.

    A policy version, once published, is archived as it was: importing the same version with
    other text or purposes is refused, so what a receipt points to can never change.
    """
    purposes_snapshot = [purpose_snapshot(purpose) for purpose in config["purposes"]]
    policy = config["policy"]
    site = session.get(Site, config["id"])
    published = session.get(PolicyVersion, (config["id"], policy["version"]))
    if published is not None and (
        published.text != policy["text"]
        or published.purposes != purposes_snapshot
        or published.texts != config["texts"]
        or published.url != policy["url"]
        or published.effective_date != policy.get("effective_date")
        or published.changes != policy.get("changes")  # shown, and covered by the hash receipts pin
    ):
        raise InvalidRequest(
            f"Policy version {policy['version']!r} of site {config['id']!r} is already published with "
            "other content. Publish the change under a new version."
        )
    created = site is None
    if created:
        site = Site(id=config["id"], lanes=1)
        session.add(site)
    if config.get("lanes") is not None and config["lanes"] < site.lanes:
        # A user's lane is stored with them and each lane's chain goes on: fewer lanes would strand both.
        raise InvalidRequest(f"Site {config['id']!r} has {site.lanes} lanes; a site's lanes can be raised, "
                             "never lowered.", {"lanes": [f"At least {site.lanes}."]})
    site.lanes = config.get("lanes") or site.lanes
    site.name = config["name"]
    site.controller = config["controller"]
    site.jurisdiction = config["jurisdiction"]
    site.default_language = config["default_language"]
    site.texts = config["texts"]
    site.age_gate = config["age_gate"]
    site.age_threshold = config["age_threshold"]
    site.cookie_domain = config.get("cookie_domain")
    site.google_consent_mode = config.get("google_consent_mode")
    site.reload_on_withdrawal = config["reload_on_withdrawal"]
    site.banner_statistics = config["banner_statistics"]
    site.time_zone = config.get("time_zone")
    # Decisions already recorded keep the expiry they were given; this applies to the next ones.
    site.consent_lifetime_months = config["consent_lifetime_months"]
    site.current_policy_version = policy["version"]
    if not created:  # origins live in a table of their own: the row is updated (its revision raised) all the same
        flag_modified(site, "revision")
    site.origins = [
        SiteOrigin(origin=origin, position=position) for position, origin in enumerate(config["allowed_origins"])
    ]
    if published is None:
        session.flush()  # the site row first: the policy version refers to it
        session.add(
            PolicyVersion(
                site_id=config["id"],
                version=policy["version"],
                url=policy["url"],
                text=policy["text"],
                changes=policy.get("changes"),
                effective_date=policy.get("effective_date"),
                texts=config["texts"],
                purposes=purposes_snapshot,
            )
        )
    session.flush()
    if created:  # its backend can vouch for its users from the start (README, "Identifying your users")
        identity.create_secret(session, site.id)
    webhooks.configure(session, site.id, config["webhook"])
    session.flush()
    return site


def get_site(session, site_id, for_update=False):
    """The site `site_id`, or NotFound; ids that could not exist are refused without a query."""
    return _existing(site_id, lambda: session.get(Site, site_id, with_for_update=for_update))


def site_stamp(session, site_id):
    """What moves whenever a site's widget config may change, in one indexed lookup; NotFound as get_site.

    A row (current_policy_version, updated_at, default_language): every change to the site row
    moves updated_at, and a published policy version never changes.
    """
    query = select(Site.current_policy_version, Site.updated_at, Site.default_language).where(Site.id == site_id)
    return _existing(site_id, lambda: session.execute(query).first())


def _existing(site_id, lookup):
    found = lookup() if SITE_ID_PATTERN.fullmatch(site_id or "") else None
    if found is None:
        raise NotFound(f"No site {site_id!r} is configured here.")
    return found


def current_policy(session, site):
    return session.get(PolicyVersion, (site.id, site.current_policy_version))


def export_site(session, site_id):
    """The site's configuration in the shape `import_site` takes; import(export(x)) changes nothing."""
    site = get_site(session, site_id)
    policy = current_policy(session, site)
    policy_config = {"version": policy.version, "url": policy.url, "text": policy.text}
    for optional in ("changes", "effective_date"):  # only when set
        if getattr(policy, optional):
            policy_config[optional] = getattr(policy, optional)
    config = {
        "id": site.id,
        "name": site.name,
        "controller": site.controller,
        "jurisdiction": site.jurisdiction,
        "default_language": site.default_language,
        "allowed_origins": site.allowed_origins,
        "policy": policy_config,
        "texts": site.texts,
        "purposes": policy.purposes,
        "age_gate": site.age_gate,
    }
    for optional in ("cookie_domain", "google_consent_mode", "reload_on_withdrawal", "time_zone"):  # only when set
        if getattr(site, optional):
            config[optional] = getattr(site, optional)
    if not site.banner_statistics:  # on by default: files that never set it export unchanged
        config["banner_statistics"] = False
    if site.age_threshold != AGE_THRESHOLDS[0]:  # files that never set it export unchanged
        config["age_threshold"] = site.age_threshold
    if site.consent_lifetime_months != lifetime.DEFAULT_MONTHS:  # files that never set it export unchanged
        config["consent_lifetime_months"] = site.consent_lifetime_months
    if site.lanes > 1:
        config["lanes"] = site.lanes
    webhook = session.get(SiteWebhook, site.id)
    if webhook is not None:
        config["webhook"] = {"url": webhook.url}  # the secret stays out of files people share
    return config


# A purpose's texts only the preference centre shows, by the key the widget knows them by.
LAZY_TEXTS = {"retention": "retention", "sources": "sources", "refusal_consequence": "refusal"}


def widget_config(session, site_id, language=None):
    """What the widget needs to show a site's current policy in `language` (default: the site's)."""
    site = get_site(session, site_id)
    policy = current_policy(session, site)
    language = language or site.default_language

    def localized_recipient(recipient):
        return {
            "name": recipient["name"][language],
            "contact": recipient["contact"],
            "purpose": recipient["purpose"][language],
            "country": recipient.get("country"),
            **({"rights": recipient["rights"][language]} if "rights" in recipient else {}),
        }

    def localized_purpose(purpose):
        return {
            **{key: purpose[key] for key in ("id", "required", "tracking")},
            "sensitive": purposes.is_sensitive(purpose),
            "tags": purposes.tags(purpose),
            "title": purpose["title"][language],
            "description": purpose["description"][language],
            "recipients": [localized_recipient(recipient) for recipient in purpose["recipients"]],
            # Each of these only where it applies, as the cookies are: every first visit waits for these bytes.
            **({"basis": purposes.legal_basis(purpose)} if not purposes.is_consent(purpose) else {}),
            **({"separate": True} if purposes.separate_grounds(purpose) else {}),
            **({"ask": purpose["in_context"][language]} if "in_context" in purpose else {}),
            **({"requires": purposes.requirements(purpose)} if purposes.requirements(purpose) else {}),
            **{short: purpose[key][language] for key, short in LAZY_TEXTS.items() if key in purpose},
            **cookie_declarations.for_widget(purpose, language),  # short keys: see cookie_declarations.py
        }

    return {
        "site_id": site.id,
        "language": language,
        "name": site.name[language],
        "controller": site.controller["name"][language],
        "policy": {
            "version": policy.version,
            "url": policy.url,
            "changes": policy.changes[language] if policy.changes else None,
            "archive_url": public_url("widget.policy_version", site_id=site.id, version=policy.version),
        },
        "texts": {key: text[language] for key, text in policy.texts.items()},
        "purposes": [localized_purpose(purpose) for purpose in policy.purposes],
        "age_gate": site.age_gate,
        **({"age_threshold": site.age_threshold} if site.age_gate else {}),
        # The widget computes a decision's expiry itself as well (it decides before the service answers).
        "lifetime_months": site.consent_lifetime_months,
        **({"cookie_domain": site.cookie_domain} if site.cookie_domain else {}),
        **({"reload_on_withdrawal": True} if site.reload_on_withdrawal else {}),
        # The widget sends its anonymous banner marks (consent/visitor/funnel.py).
        **({"funnel": True} if site.banner_statistics else {}),
    }


def list_sites(session):
    return session.scalars(select(Site).order_by(Site.id)).all()


def dump_yaml(config):
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False, width=100)
