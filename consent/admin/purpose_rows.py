"""A purpose of a site's configuration as a row of the console's publish form (consent.forms.PurposeForm), and back.

The form shows what a purpose means (consent/sites/purposes.py), whichever form of the YAML declared it: `required`
alone is shown as the contract basis, `kind` as its one tag. A row saved writes the current form (tags; a legal
basis other than consent, which makes the purpose required). What the row shows as it was stays as it was declared:
codes keep the order the file gave them, an unchanged recipients text keeps the recipients as they were (with
anything the text cannot say), and what the form does not edit at all (cookies, storage) is carried over.
"""
import re

from consent.errors import InvalidRequest
from consent.sites import purposes, vocabulary

# Lists of vocabulary codes, one checkbox each.
CODE_FIELDS = ("pi_categories", "sensitive_categories", "separate_consent")
# Optional texts in both languages, one input each.
OPTIONAL_TEXTS = ("in_context", "retention", "sources", "refusal_consequence")
# What the form does not edit but a purpose keeps from one version to the next: its declared cookies and storage
# keys (YAML is where they are written; consent/sites/cookie_declarations.py).
KEPT_FIELDS = ("cookies", "storage")
RECIPIENT_COLUMNS = 10  # name zh | name en | contact | purpose zh | purpose en | country | role | data | rights zh | en
SEPARATORS = re.compile(r"[\s,，、;]+")


def pair(zh, en):
    return {"zh-CN": (zh or "").strip(), "en": (en or "").strip()}


def optional_pair(zh, en):
    """A text in both languages, None when both are empty; a language left empty is left out, so the refusal names
    it ("The English (en) text is missing.")."""
    given = {language: text for language, text in pair(zh, en).items() if text}
    return given or None


def lines(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def words(text):
    """Distinct ids or codes written with commas, spaces or semicolons between them, in their order."""
    return list(dict.fromkeys(word for word in SEPARATORS.split(text or "") if word))


def row_data(purpose):
    """Form data for one row, from a purpose of an exported configuration."""
    row = {
        "id": purpose["id"], "legal_basis": purposes.legal_basis(purpose), "tags": purposes.tags(purpose),
        "tracking": purpose.get("tracking", False), "sensitive": purpose.get("sensitive", False),
        "title_zh": purpose["title"]["zh-CN"], "title_en": purpose["title"]["en"],
        "description_zh": purpose["description"]["zh-CN"], "description_en": purpose["description"]["en"],
        "requires": ", ".join(purpose.get("requires", [])),
        "recipients": format_recipients(purpose.get("recipients", [])),
        **{key: list(purpose.get(key, [])) for key in CODE_FIELDS},
    }
    for key in OPTIONAL_TEXTS:
        text = purpose.get(key, {})
        row[f"{key}_zh"], row[f"{key}_en"] = text.get("zh-CN", ""), text.get("en", "")
    return row


def _in_declared_order(key, chosen, declared):
    """The codes of vocabulary table `key` ticked: those the purpose declared first, in the order it declared them,
    then the new ones in the table's order."""
    table = list(vocabulary.TABLES[key])
    return [code for code in declared if code in chosen] + sorted(
        {code for code in chosen if code not in declared}, key=table.index)


def purpose_from_row(row, previous=None):
    """The purpose a row of the form declares; `previous` is the purpose of that id in the current version, if any."""
    previous = previous or {}
    purpose_id = row["id"].strip()
    basis = row["legal_basis"]
    declared_tags = purposes.tags(previous) if previous else []
    purpose = {"id": purpose_id, "tags": _in_declared_order("tags", row["tags"] or [], declared_tags)}
    if basis != vocabulary.CONSENT or previous.get("legal_basis") == vocabulary.CONSENT:  # consent is the default
        purpose["legal_basis"] = basis
    purpose.update({"required": basis != vocabulary.CONSENT, "tracking": bool(row["tracking"]),
                    "sensitive": bool(row["sensitive"])})
    for key in CODE_FIELDS:
        if row[key]:  # None or [] when nothing is ticked
            purpose[key] = _in_declared_order(key, row[key], previous.get(key, []))
    if words(row["requires"]):
        purpose["requires"] = words(row["requires"])
    for key in OPTIONAL_TEXTS:
        text = optional_pair(row[f"{key}_zh"], row[f"{key}_en"])
        if text:
            purpose[key] = text
    purpose["title"] = pair(row["title_zh"], row["title_en"])
    purpose["description"] = pair(row["description_zh"], row["description_en"])
    shown = previous.get("recipients", [])
    if lines(row["recipients"]) == lines(format_recipients(shown)):  # as shown: kept as declared
        purpose["recipients"] = shown
    else:
        purpose["recipients"] = parse_recipients(row["recipients"], purpose_id)
    purpose.update({key: previous[key] for key in KEPT_FIELDS if key in previous})
    return purpose


def format_recipients(recipients):
    """Recipients as the form's lines; columns left empty at the end are left out."""
    def columns(recipient):
        rights = recipient.get("rights", {})
        return [recipient["name"]["zh-CN"], recipient["name"]["en"], recipient["contact"],
                recipient["purpose"]["zh-CN"], recipient["purpose"]["en"], recipient.get("country", ""),
                recipient.get("role", ""), ", ".join(recipient.get("data", [])),
                rights.get("zh-CN", ""), rights.get("en", "")]

    return "\n".join(" | ".join(columns(recipient)).rstrip(" |") for recipient in recipients)


def parse_recipients(text, purpose_id):
    """Recipient lines "name zh | name en | contact | purpose zh | purpose en | country | role | data | rights zh |
    rights en" as config dicts; the columns from country on are optional."""
    recipients = []
    for line in lines(text):
        parts = [part.strip() for part in line.split("|")]
        if not 5 <= len(parts) <= RECIPIENT_COLUMNS:
            raise InvalidRequest(
                "Each recipient line needs: name zh | name en | contact | purpose zh | purpose en, then optionally "
                "country | role | data | rights zh | rights en.",
                {f"purposes.{purpose_id}.recipients": [line[:200]]},
            )
        parts += [""] * (RECIPIENT_COLUMNS - len(parts))
        recipient = {"name": pair(*parts[:2]), "contact": parts[2], "purpose": pair(*parts[3:5])}
        for key, value in (("country", parts[5]), ("role", parts[6]), ("data", words(parts[7])),
                           ("rights", optional_pair(*parts[8:10]))):
            if value:
                recipient[key] = value
        recipients.append(recipient)
    return recipients
