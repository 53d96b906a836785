"""What the admin console does to sites, as plain functions: forms in, validated site configs out.

Every save builds a complete site configuration and goes through the same validation and import
as `flask consent site import`, so the console can create nothing the YAML path would refuse.
A policy changes only through `publish_policy`, which archives a new version beside the old ones.
"""
from sqlalchemy import select

from consent.admin import purpose_rows
from consent.errors import InvalidRequest
from consent.sites import configs
from consent.sites import controller as controller_fields
from consent.sites.config_schema import AGE_THRESHOLDS
from consent.storage.models import PolicyVersion, Site
from consent.storage.operations import SiteWebhook

BLANK_PURPOSE_ROWS = 4
# A new site starts with the strictly necessary purpose and empty rows for the others.
NEW_SITE_POLICY = {"purposes": [{"id": "necessary", "tags": ["cookie"], "legal_basis": "contract"}]
                   + [{}] * BLANK_PURPOSE_ROWS}
# The controller's optional parts the settings form edits: {key: (the form's prefix, the key of its text)}; a group
# whose fields are all empty is left out. `address` is not edited and kept as it is.
CONTROLLER_GROUPS = {"privacy_officer": ("officer", "name"), "complaints": ("complaints", "text")}


def settings_data(config):
    """Form data for a site's settings, from its exported configuration."""
    controller = config["controller"]
    data = {
        "name_zh": config["name"]["zh-CN"], "name_en": config["name"]["en"],
        "controller_zh": controller["name"]["zh-CN"], "controller_en": controller["name"]["en"],
        "contact": controller_fields.email(controller),
        "controller_url": controller.get("url", ""), "controller_phone": controller.get("phone", ""),
        "default_language": config["default_language"],
        "allowed_origins": "\n".join(config["allowed_origins"]),
        "age_gate": config["age_gate"],
        "age_threshold": config.get("age_threshold", AGE_THRESHOLDS[0]),
        "reload_on_withdrawal": config.get("reload_on_withdrawal", False),
        "banner_statistics": config.get("banner_statistics", True),
        "time_zone": config.get("time_zone") or "",
        "webhook_url": config.get("webhook", {}).get("url", ""),
    }
    for key, (prefix, text_key) in CONTROLLER_GROUPS.items():
        group = controller.get(key, {})
        text = group.get(text_key, {})
        data.update({f"{prefix}_zh": text.get("zh-CN", ""), f"{prefix}_en": text.get("en", ""),
                     **{f"{prefix}_{how}": group.get(how, "") for how in controller_fields.REACH}})
    deadline = controller.get("rights_request_deadline")
    if deadline:
        data.update({"deadline_days": deadline["days"], "deadline_working_days": deadline["working_days"]})
    return data


def _set(mapping, key, value):
    """mapping[key] = value, or no `key` at all when the value is empty."""
    mapping.pop(key, None)
    if value:
        mapping[key] = value


def _text(field):
    return (field.data or "").strip()


def _with_controller(controller, form):
    controller = {**controller, "name": purpose_rows.pair(form.controller_zh.data, form.controller_en.data)}
    # The e-mail goes where the site keeps it: `contact` (its older name) for sites that use that, else `email`.
    _set(controller, "contact" if "contact" in controller else "email", _text(form.contact))
    _set(controller, "url", _text(form.controller_url))
    _set(controller, "phone", _text(form.controller_phone))
    for key, (prefix, text_key) in CONTROLLER_GROUPS.items():
        given = {how: _text(form[f"{prefix}_{how}"]) for how in controller_fields.REACH}
        group = {how: value for how, value in given.items() if value}
        text = purpose_rows.optional_pair(form[f"{prefix}_zh"].data, form[f"{prefix}_en"].data)
        _set(controller, key, {**({text_key: text} if text else {}), **group})
    days = form.deadline_days.data
    _set(controller, "rights_request_deadline",
         {"days": days, "working_days": bool(form.deadline_working_days.data)} if days is not None else None)
    return controller


def with_settings(config, form):
    """`config` with the settings form applied; the policy and purposes stay as they are."""
    changed = dict(config)
    changed["name"] = purpose_rows.pair(form.name_zh.data, form.name_en.data)
    changed["controller"] = _with_controller(config.get("controller", {}), form)
    changed["default_language"] = form.default_language.data
    changed["allowed_origins"] = purpose_rows.lines(form.allowed_origins.data)
    changed["age_gate"] = bool(form.age_gate.data)
    changed["age_threshold"] = form.age_threshold.data
    changed["reload_on_withdrawal"] = bool(form.reload_on_withdrawal.data)
    changed["banner_statistics"] = bool(form.banner_statistics.data)
    changed.pop("time_zone", None)
    if (form.time_zone.data or "").strip():
        changed["time_zone"] = form.time_zone.data.strip()
    changed.pop("webhook", None)
    if (form.webhook_url.data or "").strip():
        changed["webhook"] = {"url": form.webhook_url.data.strip()}
    return changed


def policy_data(config, blank_purposes=BLANK_PURPOSE_ROWS):
    """Form data for publishing a new version, prefilled from the current one (the version, what changed and the
    effective date left empty: they are the new version's own)."""
    policy, texts = config["policy"], config["texts"]
    return {
        "version": "", "url": policy["url"],
        "text_zh": policy["text"]["zh-CN"], "text_en": policy["text"]["en"],
        "changes_zh": "", "changes_en": "",
        "title_zh": texts["title"]["zh-CN"], "title_en": texts["title"]["en"],
        "intro_zh": texts["intro"]["zh-CN"], "intro_en": texts["intro"]["en"],
        "purposes": [purpose_rows.row_data(purpose) for purpose in config["purposes"]] + [{}] * blank_purposes,
    }


def with_policy(config, form, previous_purposes=()):
    """`config` with the policy form's new version, banner texts and purposes (rows without an id are skipped).

    `previous_purposes`: the current version's, whose declarations a purpose of the same id keeps
    (consent/admin/purpose_rows.py).
    """
    previous = {purpose["id"]: purpose for purpose in previous_purposes}
    purposes = [purpose_rows.purpose_from_row(row, previous.get(row["id"].strip()))
                for row in form.purposes.data if (row["id"] or "").strip()]
    policy = {"version": form.version.data.strip(), "url": form.url.data.strip(),
              "text": purpose_rows.pair(form.text_zh.data, form.text_en.data)}
    if (form.changes_zh.data or "").strip() or (form.changes_en.data or "").strip():
        policy["changes"] = purpose_rows.pair(form.changes_zh.data, form.changes_en.data)
    if form.effective_date.data:
        policy["effective_date"] = form.effective_date.data
    return {**config, "policy": policy, "purposes": purposes,
            "texts": {"title": purpose_rows.pair(form.title_zh.data, form.title_en.data),
                      "intro": purpose_rows.pair(form.intro_zh.data, form.intro_en.data)}}


def save(session, config):
    """Validate and store a complete configuration, exactly as a YAML import would."""
    return configs.import_site(session, configs.validate_config(config))


def create_site(session, site_id, settings_form, policy_form):
    """A new site from the console's two forms; refuses an id already taken."""
    blank = {"id": site_id, "jurisdiction": "CN", "controller": {}}
    config = configs.validate_config(with_policy(with_settings(blank, settings_form), policy_form))
    if session.get(Site, config["id"]) is not None:
        raise InvalidRequest(f"A site {site_id!r} already exists.", {"id": ["Taken."]})
    return configs.import_site(session, config)


def publish_policy(session, site_id, form):
    """Publish a new policy version of a site; the version name must be new (old ones stay archived)."""
    current = configs.export_site(session, site_id)
    config = configs.validate_config(with_policy(current, form, current["purposes"]))
    if session.get(PolicyVersion, (site_id, config["policy"]["version"])) is not None:
        raise InvalidRequest(
            "This version is already published: choose a new version name.", {"policy.version": ["Taken."]}
        )
    return configs.import_site(session, config)


def policy_versions(session, site_id):
    return session.scalars(
        select(PolicyVersion).where(PolicyVersion.site_id == site_id).order_by(PolicyVersion.published_at.desc())
    ).all()


def webhook_secret(session, site_id):
    webhook = session.get(SiteWebhook, site_id)
    return webhook.secret if webhook else None
