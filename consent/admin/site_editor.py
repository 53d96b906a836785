"""What the admin console does to sites, as plain functions: forms in, validated site configs out.

Every save builds a complete site configuration and goes through the same validation and import
as `flask consent site import`, so the console can create nothing the YAML path would refuse.
A policy changes only through `publish_policy`, which archives a new version beside the old ones.
"""
from sqlalchemy import select

from consent.errors import InvalidRequest
from consent.sites import configs
from consent.storage.models import PolicyVersion, Site, SiteWebhook

BLANK_PURPOSE_ROWS = 4
# A new site starts with the strictly necessary purpose and empty rows for the others.
NEW_SITE_POLICY = {"purposes": [{"id": "necessary", "kind": "cookie", "required": True}]
                   + [{"kind": "other"}] * BLANK_PURPOSE_ROWS}


def _pair(zh, en):
    return {"zh-CN": (zh or "").strip(), "en": (en or "").strip()}


def _lines(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _controller_email(controller):
    return controller.get("email") or controller.get("contact") or ""


def settings_data(config):
    """Form data for a site's settings, from its exported configuration."""
    return {
        "name_zh": config["name"]["zh-CN"], "name_en": config["name"]["en"],
        "controller_zh": config["controller"]["name"]["zh-CN"], "controller_en": config["controller"]["name"]["en"],
        "contact": _controller_email(config["controller"]),
        "default_language": config["default_language"],
        "allowed_origins": "\n".join(config["allowed_origins"]),
        "age_gate": config["age_gate"],
        "reload_on_withdrawal": config.get("reload_on_withdrawal", False),
        "webhook_url": config.get("webhook", {}).get("url", ""),
    }


def with_settings(config, form):
    """`config` with the settings form applied; the policy and purposes stay as they are."""
    changed = dict(config)
    changed["name"] = _pair(form.name_zh.data, form.name_en.data)
    controller = {**config.get("controller", {}), "name": _pair(form.controller_zh.data, form.controller_en.data)}
    # The e-mail goes where the site keeps it: `contact` (its older name) for sites that use that, else `email`.
    key = "contact" if "contact" in controller else "email"
    controller.pop(key, None)
    if (form.contact.data or "").strip():  # without one, the controller's url or phone must do
        controller[key] = form.contact.data.strip()
    changed["controller"] = controller
    changed["default_language"] = form.default_language.data
    changed["allowed_origins"] = _lines(form.allowed_origins.data)
    changed["age_gate"] = bool(form.age_gate.data)
    changed["reload_on_withdrawal"] = bool(form.reload_on_withdrawal.data)
    changed.pop("webhook", None)
    if (form.webhook_url.data or "").strip():
        changed["webhook"] = {"url": form.webhook_url.data.strip()}
    return changed


def format_recipients(recipients):
    return "\n".join(
        " | ".join([r["name"]["zh-CN"], r["name"]["en"], r["contact"], r["purpose"]["zh-CN"], r["purpose"]["en"],
                    r.get("country", "")]).rstrip(" |")
        for r in recipients
    )


def parse_recipients(text, purpose_id):
    """Recipient lines "name zh | name en | contact | purpose zh | purpose en | country" as config dicts."""
    recipients = []
    for line in _lines(text):
        parts = [part.strip() for part in line.split("|")]
        if len(parts) not in (5, 6):
            raise InvalidRequest(
                "Each recipient line needs: name zh | name en | contact | purpose zh | purpose en | country.",
                {f"purposes.{purpose_id}.recipients": [line]},
            )
        recipient = {"name": _pair(*parts[:2]), "contact": parts[2], "purpose": _pair(*parts[3:5])}
        if len(parts) == 6 and parts[5]:
            recipient["country"] = parts[5]
        recipients.append(recipient)
    return recipients


def policy_data(config, blank_purposes=BLANK_PURPOSE_ROWS):
    """Form data for publishing a new version, prefilled from the current one (the version left empty)."""
    policy, texts = config["policy"], config["texts"]
    purposes = [
        {"id": p["id"], "kind": p["kind"], "required": p["required"], "tracking": p["tracking"],
         "sensitive": p["sensitive"], "title_zh": p["title"]["zh-CN"], "title_en": p["title"]["en"],
         "description_zh": p["description"]["zh-CN"], "description_en": p["description"]["en"],
         "recipients": format_recipients(p.get("recipients", []))}
        for p in config["purposes"]
    ]
    return {
        "version": "", "url": policy["url"],
        "text_zh": policy["text"]["zh-CN"], "text_en": policy["text"]["en"],
        "changes_zh": "", "changes_en": "",
        "title_zh": texts["title"]["zh-CN"], "title_en": texts["title"]["en"],
        "intro_zh": texts["intro"]["zh-CN"], "intro_en": texts["intro"]["en"],
        "purposes": purposes + [{"kind": "other"}] * blank_purposes,
    }


# What the form does not edit but a purpose keeps from one version to the next: its declared cookies and
# storage keys (YAML is where they are written; consent/sites/cookie_declarations.py).
KEPT_PURPOSE_FIELDS = ("cookies", "storage")


def with_policy(config, form, kept_by_purpose=None):
    """`config` with the policy form's new version, banner texts and purposes (rows without an id are skipped).

    `kept_by_purpose`: {purpose id: {field: value}} of KEPT_PURPOSE_FIELDS, carried over to the purpose of that id.
    """
    kept_by_purpose = kept_by_purpose or {}
    purposes = []
    for row in form.purposes.data:
        purpose_id = (row["id"] or "").strip()
        if not purpose_id:
            continue
        purposes.append({
            "id": purpose_id, "kind": row["kind"], "required": bool(row["required"]),
            "tracking": bool(row["tracking"]), "sensitive": bool(row["sensitive"]),
            "title": _pair(row["title_zh"], row["title_en"]),
            "description": _pair(row["description_zh"], row["description_en"]),
            "recipients": parse_recipients(row["recipients"], purpose_id),
            **kept_by_purpose.get(purpose_id, {}),
        })
    policy = {"version": form.version.data.strip(), "url": form.url.data.strip(),
              "text": _pair(form.text_zh.data, form.text_en.data)}
    if (form.changes_zh.data or "").strip() or (form.changes_en.data or "").strip():
        policy["changes"] = _pair(form.changes_zh.data, form.changes_en.data)
    return {**config, "policy": policy, "purposes": purposes,
            "texts": {"title": _pair(form.title_zh.data, form.title_en.data),
                      "intro": _pair(form.intro_zh.data, form.intro_en.data)}}


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
    kept = {purpose["id"]: {field: purpose[field] for field in KEPT_PURPOSE_FIELDS if field in purpose}
            for purpose in current["purposes"]}
    config = configs.validate_config(with_policy(current, form, kept))
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
