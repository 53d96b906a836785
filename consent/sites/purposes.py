"""What a purpose means, read from its policy version's snapshot, whichever version of the format wrote it.

A snapshot stores what the operator declared, no more (consent/sites/configs.py: a published version
never changes, and importing it again must find it equal). So the facts that follow from a declaration
are derived here, in one place, for versions published before the declaration existed as well:
`required: true` alone means the contract basis, `kind` is a purpose's one tag, `sensitive: true` alone
is sensitive without a named category.
"""
from consent.sites.vocabulary import CONSENT

# Recipients that decide for themselves what they do with the information: providing it to them needs the
# individual's separate consent (PIPL art. 23); a processor acting on the site's behalf does not (art. 21).
HANDLER_ROLES = ("handler", "joint_handler")


def legal_basis(purpose):
    """The PIPL art. 13 basis: as declared, else "contract" for a required purpose, else "consent"."""
    return purpose.get("legal_basis") or ("contract" if purpose["required"] else CONSENT)


def is_consent(purpose):
    """Whether the visitor decides: only these purposes are switches, and only they are receipted as consent."""
    return legal_basis(purpose) == CONSENT


def tags(purpose):
    return purpose.get("tags") or [purpose["kind"]]


def is_sensitive(purpose):
    return bool(purpose.get("sensitive") or purpose.get("sensitive_categories"))


def separate_grounds(purpose):
    """Why the purpose needs its own, separate consent (vocabulary.SEPARATE_GROUNDS), in that table's order.

    Declared grounds (publication, overseas transfer) and those that follow from the purpose: sensitive
    information, a recipient that is another handler. None for a purpose not based on consent.
    """
    if not is_consent(purpose):
        return []
    grounds = set(purpose.get("separate_consent", ()))
    if is_sensitive(purpose):
        grounds.add("sensitive")
    if any(recipient.get("role") in HANDLER_ROLES for recipient in purpose["recipients"]):
        grounds.add("provision")
    return [ground for ground in ("sensitive", "provision", "publication", "overseas_transfer") if ground in grounds]


def in_own_step(purpose):
    """Granted only in a step of its own, never by "Accept all": separate consent, or asked at the moment of use."""
    return bool(separate_grounds(purpose)) or (is_consent(purpose) and "in_context" in purpose)


def requirements(purpose):
    return purpose.get("requires", [])


def advice(config):
    """What a validated site configuration probably should say and does not, in sentences: not refused,
    because files published before could not say it, yet worth the operator's look.

    A recipient in another country than the site's jurisdiction, of a purpose based on consent that does
    not declare the overseas_transfer ground: PIPL art. 38-39 ask for separate consent to a transfer abroad.
    """
    sentences = []
    for purpose in config["purposes"]:
        if not is_consent(purpose) or "overseas_transfer" in separate_grounds(purpose):
            continue
        for recipient in purpose["recipients"]:
            country = recipient.get("country")
            if country and country != config["jurisdiction"]:
                sentences.append(
                    f'purpose "{purpose["id"]}": recipient "{recipient["name"]["en"]}" is in {country}, outside '
                    f'{config["jurisdiction"]}: a transfer abroad needs separate consent (PIPL art. 39); add '
                    "overseas_transfer to the purpose's separate_consent.")
    return sentences
