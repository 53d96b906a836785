"""Languages: zh-CN and English, every UI string (server pages and widget) from the Babel catalogs."""
from datetime import UTC, datetime

from flask import request
from flask_babel import Babel, force_locale
from flask_babel import lazy_gettext as _l

from consent.config import LANGUAGES
from consent.sites.vocabulary import CONSENT, LEGAL_BASES

# Our language tags (BCP 47, as the widget and the API speak them) and their Babel locales.
BABEL_LOCALES = {"zh-CN": "zh_Hans_CN", "en": "en"}

babel = Babel()

# The widget's own strings. Site texts (purposes, intro) come from the site's configuration instead.
WIDGET_STRINGS = {
    "accept_all": _l("Accept all"),
    "reject_all": _l("Reject all"),
    "customize": _l("Customize"),
    "save": _l("Save my choices"),
    "always_on": _l("Always on"),
    "policy_link": _l("Privacy policy"),
    "preferences_title": _l("Privacy preferences"),
    "close": _l("Close"),
    "signal_notice": _l("Your browser asked sites not to track you, so tracking is off unless you turn it on."),
    "saved": _l("Your choices were saved."),
    "save_failed": _l("Your choices apply on this device now and will be sent when the connection is back."),
    "receipt_link": _l("View my consent receipt"),
    "manage": _l("Privacy settings"),
    "do_not_track": _l("Do not track me"),
    "do_not_track_help": _l("Turns off every purpose that tracks you, now and until you change it."),
    "switch_language": _l("中文"),
    "history_link": _l("My consent history"),
    "withdraw_all": _l("Withdraw all"),
    "policy_changed": _l("Our privacy policy has changed since your last choice. Please choose again."),
    "what_changed": _l("See what changed"),
    "choose_again": _l("Your last choice could not be recorded. Please choose again."),
    "separate_badge": _l("Needs your separate consent"),
    "separate_intro": _l(
        "This purpose needs your separate consent. Please read who receives your information before you agree."
    ),
    "separate_agree": _l("I agree to this purpose"),
    "cancel": _l("Cancel"),
    "recipient": _l("Recipient"),
    # {age}: the site's age threshold, 14 or 18.
    "age_question": _l("Before you choose: are you {age} or older?"),
    "age_adult": _l("I am {age} or older"),
    "age_minor": _l("I am under {age}"),
    "guardian_needed": _l(
        "Visitors under {age} need the consent of a parent or guardian. Nothing optional is turned on; "
        "please ask your parent or guardian."
    ),
    # A minor's device, once the site recorded their guardian's decision (README, "Minors and guardians").
    "guardian_decided": _l("Your parent or guardian made these choices for you. You can withdraw them all here."),
    # A purpose asked at the moment of use: {context} is when, as the site words it ("when you ...").
    "asked_when": _l("Asked only {context}"),
    # Agreeing to a purpose that needs others: {purpose} are their titles.
    "requires_prompt": _l("It needs {purpose} as well; agreeing turns that on too."),
    "retention": _l("Kept"),
    "sources": _l("Obtained from"),
    "refusal": _l("If you say no"),
    # Purposes processed on another legal basis than consent: shown, never switches (vocabulary.LEGAL_BASES).
    **{f"basis_{code}": label for code, label in LEGAL_BASES.items() if code != CONSENT},
    # The preference centre's list of what each purpose stores (the site declares it).
    "cookie": _l("Cookie"),
    "storage": _l("Browser storage"),
    "third_party": _l("set by a third party"),
    # An embed held back: {provider} is its host or the name the page gives, {purpose} the purposes it needs.
    "embed_blocked": _l("This content from {provider} loads only with your consent to: {purpose}."),
    "load_once": _l("Load once"),
    "always_allow": _l("Always allow: {purpose}"),
}


def normalize_language(tag):
    """Map a language tag from a page, a browser or a query to one we serve, or None."""
    tag = (tag or "").strip().lower()
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


def preferred_language():
    """The first language of the browser's Accept-Language that we serve, or None."""
    return next(filter(None, (normalize_language(tag) for tag, _quality in request.accept_languages)), None)


def request_language():
    """The language asked for by `?lang=`, else the browser's Accept-Language, else English."""
    return normalize_language(request.args.get("lang")) or preferred_language() or "en"


def widget_strings(language):
    """The widget's strings in `language`, as plain text looked up in the catalogs."""
    with force_locale(BABEL_LOCALES[language]):
        return {key: str(text) for key, text in WIDGET_STRINGS.items()}


def utc_time(moment):
    """A time (a Unix timestamp, an ISO 8601 text or a datetime) as a UTC time both languages read the
    same way: 2026-11-25 09:30:00 UTC. A time without its zone is UTC: SQLite hands stored times back so."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    elif not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # not the machine's local time, which astimezone would assume
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def init_app(app):
    babel.init_app(app, locale_selector=lambda: BABEL_LOCALES[request_language()])
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_language"] = request_language
    app.jinja_env.filters["utc_time"] = utc_time
