"""HTML forms of the server-rendered pages (Flask-WTF, CSRF-protected).

Forms only carry fields from pages; what a site configuration may hold is still decided by
`consent.schemas.SiteConfigSchema`, which every console save goes through.
"""
import re

from flask import abort, current_app, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FieldList,
    FormField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import URL, DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from consent.scanner import guard
from consent.sites import vocabulary, webhook_targets
from consent.sites.config_schema import AGE_THRESHOLDS, MAX_TAGS
from consent.sites.controller import MAX_DEADLINE_DAYS
from consent.stats import days

# Both consoles' answer to a POST whose CSRF token is missing, forged or expired.
FORM_EXPIRED = _l("This form has expired or was not sent from this console; please try again.")


def require_token(form_class):
    """Refuse (400, a page saying why) a console POST that is not this console's own, before it changes anything."""
    if not form_class().validate_on_submit():
        abort(400, description=str(FORM_EXPIRED))


def public_webhook_target(_form, field):
    """Refuse a webhook URL that is not https or points inside our network, saying why in the page's language."""
    if field.errors:  # too long already: one error is enough
        return
    try:
        webhook_targets.check_registration(field.data.strip(), current_app.config["CONSENT_WEBHOOK_ALLOW_PRIVATE"])
    except webhook_targets.TargetRefused as refusal:
        raise ValidationError(refusal.message(gettext)) from None


def iana_time_zone(_form, field):
    """A time zone this machine knows by its IANA name (consent/stats/days.py)."""
    if field.data and not days.is_zone(field.data.strip()):
        raise ValidationError(gettext("Name an IANA time zone, such as Asia/Shanghai or Europe/Berlin."))


class PageForm(FlaskForm):
    """Base of every form on our pages, which post forms and never JSON."""

    class Meta:
        def wrap_formdata(self, form, formdata):
            # Flask-WTF would read a JSON body as the form's data, and fail (500) on one that is not
            # an object of strings: a JSON post to a page is an empty form here.
            if request.is_json:
                return None
            return super().wrap_formdata(form, formdata)


class WithdrawForm(PageForm):
    submit = SubmitField(_l("Withdraw all my consents"))


class LoginForm(PageForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    submit = SubmitField(_l("Sign in"))


class SiteSettingsForm(PageForm):
    """What an operator may change at any time: it does not alter what visitors consent to."""

    name_zh = StringField(_l("Site name (Chinese)"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("Site name (English)"), validators=[DataRequired(), Length(max=200)])
    controller_zh = StringField(_l("Controller (Chinese)"), validators=[DataRequired(), Length(max=200)])
    controller_en = StringField(_l("Controller (English)"), validators=[DataRequired(), Length(max=200)])
    # Optional when the controller gives a url or phone instead (set in the site's YAML).
    contact = StringField(_l("Privacy contact e-mail"), validators=[Optional(), Length(max=200)])
    default_language = SelectField(
        _l("Default language"), choices=[SelectChoice("zh-CN", "中文"), SelectChoice("en", "English")]
    )
    allowed_origins = TextAreaField(_l("Allowed origins, one per line"), validators=[DataRequired(), Length(max=5000)])
    age_gate = BooleanField(_l("Ask visitors to state their age (under the age threshold, a guardian must consent)"))
    age_threshold = SelectField(_l("Age threshold"), coerce=int, default=AGE_THRESHOLDS[0], choices=[
        SelectChoice(AGE_THRESHOLDS[0], _l("14 (PIPL art. 31)")), SelectChoice(AGE_THRESHOLDS[1], _l("18"))])
    reload_on_withdrawal = BooleanField(_l("Reload the page after a withdrawal (stops trackers already running)"))
    # On for a new site, as in YAML; the settings page fills it from the site.
    banner_statistics = BooleanField(
        _l("Count how often the banner is shown and answered (anonymous marks, nothing stored on the device)"),
        default=True)
    time_zone = StringField(_l("Time zone the statistics count days in (IANA, such as Asia/Shanghai; empty: the "
                               "jurisdiction's)"), validators=[Optional(), Length(max=64), iana_time_zone])
    webhook_url = StringField(_l("Webhook URL"), validators=[Optional(), Length(max=2048), public_webhook_target])
    # The controller's other ways to be reached (consent/sites/controller.py checks them): each group is left
    # out of the site's configuration when all its fields are empty.
    controller_url = StringField(_l("Controller's contact page (URL)"), validators=[Length(max=2048)])
    controller_phone = StringField(_l("Controller's phone"), validators=[Length(max=40)])
    officer_zh = StringField(_l("Privacy officer (Chinese)"), validators=[Length(max=200)])
    officer_en = StringField(_l("Privacy officer (English)"), validators=[Length(max=200)])
    officer_email = StringField(_l("Privacy officer's e-mail"), validators=[Length(max=254)])
    officer_url = StringField(_l("Privacy officer's URL"), validators=[Length(max=2048)])
    officer_phone = StringField(_l("Privacy officer's phone"), validators=[Length(max=40)])
    complaints_zh = TextAreaField(_l("How to complain (Chinese)"), validators=[Length(max=1000)])
    complaints_en = TextAreaField(_l("How to complain (English)"), validators=[Length(max=1000)])
    complaints_email = StringField(_l("Complaints e-mail"), validators=[Length(max=254)])
    complaints_url = StringField(_l("Complaints URL"), validators=[Length(max=2048)])
    complaints_phone = StringField(_l("Complaints phone"), validators=[Length(max=40)])
    deadline_days = IntegerField(_l("Days within which a rights request is answered"),
                                 validators=[Optional(), NumberRange(1, MAX_DEADLINE_DAYS)])
    deadline_working_days = BooleanField(_l("Counted in working days"))
    submit = SubmitField(_l("Save settings"))


class NewSiteForm(SiteSettingsForm):
    site_id = StringField(_l("Site id"), validators=[DataRequired(), Length(max=64)])
    submit = SubmitField(_l("Create site"))


TICK_OFFERED = _l("Tick only among the choices offered.")


def codes(label, table):
    """Checkboxes for codes of a vocabulary table (consent/sites/vocabulary.py), labelled in the page's language."""
    return SelectMultipleField(label, choices=[SelectChoice(code, text) for code, text in table.items()],
                               widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
                               invalid_choice_message=TICK_OFFERED)


class PurposeForm(PageForm):
    """One purpose of a new version; consent/admin/purpose_rows.py maps it to the site configuration and back."""

    class Meta:
        csrf = False  # nested in PolicyForm, which carries the token

    id = StringField(_l("Purpose id"), validators=[Optional(), Length(max=64)])
    # Only a purpose based on consent is a switch; any other basis makes it information (required).
    legal_basis = SelectField(_l("Legal basis"), default=vocabulary.CONSENT,
                              choices=[SelectChoice(code, text) for code, text in vocabulary.LEGAL_BASES.items()])
    tags = codes(_l("Tags"), vocabulary.TAGS)
    tracking = BooleanField(_l("Tracking"))
    title_zh = StringField(_l("Title (Chinese)"), validators=[Length(max=100)])
    title_en = StringField(_l("Title (English)"), validators=[Length(max=100)])
    description_zh = TextAreaField(_l("Description (Chinese)"), validators=[Length(max=1000)])
    description_en = TextAreaField(_l("Description (English)"), validators=[Length(max=1000)])
    # Rarely used: the page shows them folded (templates/admin/_macros.html).
    pi_categories = codes(_l("Categories of personal information"), vocabulary.PI_CATEGORIES)
    sensitive_categories = codes(_l("Sensitive personal information"), vocabulary.SENSITIVE_CATEGORIES)
    sensitive = BooleanField(_l("Sensitive, without naming a category (the older form)"))
    separate_consent = codes(_l("Separate consent, also on these grounds"), vocabulary.SEPARATE_GROUNDS)
    requires = StringField(_l("Requires (ids of other purposes, separated by commas)"), validators=[Length(max=2000)])
    in_context_zh = StringField(_l("Asked when it is used: when (Chinese)"), validators=[Length(max=200)])
    in_context_en = StringField(_l("Asked when it is used: when (English)"), validators=[Length(max=200)])
    retention_zh = TextAreaField(_l("Retention (Chinese)"), validators=[Length(max=500)])
    retention_en = TextAreaField(_l("Retention (English)"), validators=[Length(max=500)])
    sources_zh = TextAreaField(_l("Sources of the information (Chinese)"), validators=[Length(max=500)])
    sources_en = TextAreaField(_l("Sources of the information (English)"), validators=[Length(max=500)])
    refusal_consequence_zh = TextAreaField(_l("If refused (Chinese)"), validators=[Length(max=500)])
    refusal_consequence_en = TextAreaField(_l("If refused (English)"), validators=[Length(max=500)])
    # One per line: name zh | name en | contact | purpose zh | purpose en, then optionally country | role | data |
    # rights zh | rights en (consent/admin/purpose_rows.py).
    recipients = TextAreaField(_l("Recipients"), validators=[Length(max=20_000)])

    def validate_tags(self, field):
        if (self.id.data or "").strip() and not field.data:
            raise ValidationError(_l("Tick at least one tag."))
        if len(field.data or ()) > MAX_TAGS:
            raise ValidationError(_l("Tick at most %(most)s tags.", most=MAX_TAGS))


class PolicyForm(PageForm):
    """A new policy version: its text, the banner texts and the purposes, published together."""

    version = StringField(_l("New version"), validators=[DataRequired(), Length(max=64)])
    url = StringField(
        _l("Policy URL on the site"), validators=[DataRequired(), URL(require_tld=False), Length(max=2048)]
    )
    text_zh = TextAreaField(_l("Policy text (Chinese)"), validators=[DataRequired(), Length(max=200_000)])
    text_en = TextAreaField(_l("Policy text (English)"), validators=[DataRequired(), Length(max=200_000)])
    changes_zh = TextAreaField(_l("What changed (Chinese)"), validators=[Length(max=2000)])
    changes_en = TextAreaField(_l("What changed (English)"), validators=[Length(max=2000)])
    effective_date = DateField(_l("Effective date (optional)"), validators=[Optional()])
    title_zh = StringField(_l("Banner title (Chinese)"), validators=[DataRequired(), Length(max=100)])
    title_en = StringField(_l("Banner title (English)"), validators=[DataRequired(), Length(max=100)])
    intro_zh = TextAreaField(_l("Banner introduction (Chinese)"), validators=[DataRequired(), Length(max=1000)])
    intro_en = TextAreaField(_l("Banner introduction (English)"), validators=[DataRequired(), Length(max=1000)])
    purposes = FieldList(FormField(PurposeForm), min_entries=1, max_entries=30)
    submit = SubmitField(_l("Publish this version"))


class ApiKeyForm(PageForm):
    label = StringField(_l("Label"), validators=[DataRequired(), Length(max=100)])
    submit = SubmitField(_l("Create API key"))


class SubjectSecretRotateForm(PageForm):
    """A new subject secret; the others keep verifying for the overlap, so pages already served keep working."""

    overlap_hours = IntegerField(_l("Old secrets keep working for (hours)"), default=168,
                                 validators=[InputRequired(), NumberRange(0, 24 * 90)])
    submit = SubmitField(_l("Rotate the subject secret"))


MAX_SCAN_URL = 2048
# Control characters and spaces: a browser's address never holds them, and a URL with a NUL in it would
# only fail later, in the scan worker's browser.
NOT_IN_A_URL = re.compile(r"[\x00-\x20\x7f-\x9f]")


def web_addresses(_form, field):
    """One address a line, each short and without spaces; which origins they may name is for the scanner."""
    for number, line in enumerate((field.data or "").splitlines(), 1):
        line = line.strip()
        if len(line) > MAX_SCAN_URL or NOT_IN_A_URL.search(line):
            raise ValidationError(gettext("Line %(number)s is not a web address: at most %(most)s characters, "
                                          "without spaces or control characters.", number=number, most=MAX_SCAN_URL))


class ScanForm(PageForm):
    """A scan to queue (consent/scanner/scans.py): the scanner itself refuses pages off the site's origins, and
    the page limit, again; here the limit is checked so that the field shows why."""

    urls = TextAreaField(_l("Pages to scan, one address per line"),
                         validators=[DataRequired(), Length(max=100_000), web_addresses])
    # Ten pages, as `flask consent scan` visits by default, unless the service allows fewer.
    pages = IntegerField(_l("Visit at most this many pages"),
                         default=lambda: min(10, current_app.config["CONSENT_SCAN_MAX_PAGES"]),
                         validators=[InputRequired()])
    follow_links = BooleanField(_l("Also visit the links to the site's own pages that the pages lead to"))
    submit = SubmitField(_l("Queue the scan"))

    def validate_pages(self, field):
        limit = current_app.config["CONSENT_SCAN_MAX_PAGES"]
        if field.data is not None and not 1 <= field.data <= limit:  # None: not a number, said already
            raise ValidationError(guard.ScanRefused("page_limit", limit=limit).message(gettext))


class AdminRoleForm(PageForm):
    """An admin user's role; the site choices are the sites that exist, set by the view."""

    role = RadioField(_l("Role"), choices=[
        SelectChoice("owner", _l("Owner: every site, creating sites, and the console's users")),
        SelectChoice("operator", _l("Operator: only the sites ticked below")),
    ], validators=[InputRequired()])
    sites = SelectMultipleField(_l("Sites this operator manages"), choices=[],
                                widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    submit = SubmitField(_l("Save role"))


class ActionForm(PageForm):
    """A button that changes something (revoke a key, rotate a secret): a CSRF token and nothing else."""

    submit = SubmitField(_l("Confirm"))


# --- Auditor console ----------------------------------------------------------------------------


class AuditorLoginForm(PageForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    submit = SubmitField(_l("Sign in"))


class LogoutForm(PageForm):
    """Signing out is a POST with a CSRF token, so another site cannot sign someone out."""

    submit = SubmitField(_l("Sign out"))
