"""HTML forms of the server-rendered pages (Flask-WTF, CSRF-protected).

Forms only carry fields from pages; what a site configuration may hold is still decided by
`consent.schemas.SiteConfigSchema`, which every console save goes through.
"""
from flask import abort, current_app, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
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

from consent.sites import webhook_targets
from consent.sites.config_schema import PURPOSE_KINDS

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
    age_gate = BooleanField(_l("Ask visitors for an age statement (under 14 needs a guardian)"))
    reload_on_withdrawal = BooleanField(_l("Reload the page after a withdrawal (stops trackers already running)"))
    webhook_url = StringField(_l("Webhook URL"), validators=[Optional(), Length(max=2048), public_webhook_target])
    submit = SubmitField(_l("Save settings"))


class NewSiteForm(SiteSettingsForm):
    site_id = StringField(_l("Site id"), validators=[DataRequired(), Length(max=64)])
    submit = SubmitField(_l("Create site"))


class PurposeForm(PageForm):
    class Meta:
        csrf = False  # nested in PolicyForm, which carries the token

    id = StringField(_l("Purpose id"), validators=[Optional(), Length(max=64)])
    kind = SelectField(_l("Kind"), choices=[SelectChoice(kind) for kind in PURPOSE_KINDS])
    required = BooleanField(_l("Required"))
    tracking = BooleanField(_l("Tracking"))
    sensitive = BooleanField(_l("Sensitive or cross-border (separate consent)"))
    title_zh = StringField(_l("Title (Chinese)"), validators=[Length(max=100)])
    title_en = StringField(_l("Title (English)"), validators=[Length(max=100)])
    description_zh = TextAreaField(_l("Description (Chinese)"), validators=[Length(max=1000)])
    description_en = TextAreaField(_l("Description (English)"), validators=[Length(max=1000)])
    # One per line: name zh | name en | contact | purpose zh | purpose en | country (optional).
    recipients = TextAreaField(_l("Recipients"), validators=[Length(max=5000)])


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
