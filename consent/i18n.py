"""Languages: zh-CN and English, every UI string (server pages and widget) from the Babel catalogs."""
from flask import request
from flask_babel import Babel, force_locale
from flask_babel import lazy_gettext as _l

from consent.config import LANGUAGES

# Our language tags (BCP 47, as the widget and the API speak them) and their Babel locales.
BABEL_LOCALES = {"zh-CN": "zh_Hans_CN", "en": "en"}

babel = Babel()

# The widget's own strings. Site texts (purposes, intro) come from the site's configuration instead.
WIDGET_STRINGS = {
    "banner_label": _l("Privacy choices"),
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
}


def normalize_language(tag):
    """Map a language tag from a page, a browser or a query to one we serve, or None."""
    tag = (tag or "").strip().lower()
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


def request_language():
    """The language asked for by `?lang=`, else the browser's Accept-Language, else English."""
    asked = normalize_language(request.args.get("lang"))
    if asked:
        return asked
    for tag, _quality in request.accept_languages:
        if normalize_language(tag):
            return normalize_language(tag)
    return "en"


def widget_strings(language):
    """The widget's strings in `language`, as plain text looked up in the catalogs."""
    with force_locale(BABEL_LOCALES[language]):
        return {key: str(text) for key, text in WIDGET_STRINGS.items()}


def init_app(app):
    babel.init_app(app, locale_selector=lambda: BABEL_LOCALES[request_language()])
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_language"] = request_language
