"""Admin console for site operators (server-rendered, zh/en): /admin/...

Sites, allowed origins, purposes, policy versions, API keys, webhooks and a banner preview.
Views parse a form, call `consent.admin.site_editor` (or `api_keys`, `webhooks`), and render.
Every URL naming a site is refused (403) to an operator who does not manage it, before its view
runs; creating sites and managing the console's users is for owners (`consent.accounts.operators`).
"""
from functools import wraps

from flask import Blueprint, abort, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_wtf.csrf import generate_csrf

from consent.accounts import api_keys, operators, sessions
from consent.admin import site_editor
from consent.errors import ConsentError
from consent.forms import (
    ActionForm,
    AdminRoleForm,
    ApiKeyForm,
    LoginForm,
    NewSiteForm,
    PolicyForm,
    SiteSettingsForm,
    SubjectSecretRotateForm,
    require_token,
)
from consent.http import limits
from consent.scanner import scans
from consent.sites import configs, cookie_declarations, vocabulary, webhooks
from consent.storage.db import get_session, write_transaction
from consent.storage.operations import AdminUser
from consent.subjects import guardians, identity

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.url_defaults
def keep_language(endpoint, values):
    """Links and redirects inside the console keep the language the operator picked."""
    if "lang" in request.args and endpoint.startswith("admin."):
        values.setdefault("lang", request.args["lang"])


@bp.context_processor
def csrf_helper():
    # The recipient roles are written as codes in the publish form's recipient lines: its hint lists them.
    return {"csrf_token": generate_csrf, "recipient_roles": vocabulary.RECIPIENT_ROLES}


@bp.before_request
def load_operator():
    """Who is signed in (None once their session ended), and whether they may touch the site the URL names."""
    g.admin = sessions.current_user("admin", lambda user_id: operators.by_id(get_session(), user_id))
    site_id = (request.view_args or {}).get("site_id")
    if g.admin is not None and site_id is not None:
        operators.require_site(g.admin, site_id)


@bp.after_request
def no_caching(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # only the console's own preview frames it
    return response


def login_required(view):
    @wraps(view)
    def wrapped(**kwargs):
        if g.admin is None:
            return redirect(url_for(".login", next=request.full_path))
        return view(**kwargs)

    return wrapped


def owner_required(view):
    @wraps(view)
    @login_required
    def wrapped(**kwargs):
        operators.require_owner(g.admin)
        return view(**kwargs)

    return wrapped


def _form_problems(form):
    """A form's field errors as lines for the page."""
    return [f"{name}: {' '.join(messages)}" for name, messages in form.errors.items()]


def _field_problems(form, where=""):
    """A form's field errors as lines naming each field by its label, and a purpose by its number and id."""
    lines = []
    for field in form:
        if field.type == "FieldList":
            for number, entry in enumerate(field.entries, 1):
                purpose_id = (entry.form.id.data or "").strip()
                named = gettext("Purpose %(number)s", number=number) + (f" ({purpose_id})" if purpose_id else "")
                lines += _field_problems(entry.form, f"{named} · ")
        else:
            lines += [f"{where}{field.label.text}: {error}" for error in field.errors]
    return lines


def _errors(error):
    """A ConsentError as lines for the page: the sentence, then each field and its messages; a site
    configuration's sentences alone, one a line, as `flask consent site import` prints them."""
    if error.itemized:
        return error.detail.splitlines()
    lines = [error.detail]

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            lines.append(f"{prefix}: {' '.join(map(str, value)) if isinstance(value, list) else value}")

    walk("", error.errors or {})
    return lines


@bp.route("/login", methods=["GET", "POST"])
@limits.sign_in_attempts
def login():
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        user = operators.authenticate(get_session(), form.username.data, form.password.data)
        if user is not None:
            sessions.begin("admin", user)
            target = request.args.get("next", "")
            # Only paths inside the console: never an open redirect.
            return redirect(target if target.startswith("/admin/") else url_for(".sites_index"))
        failed = True
    return render_template("admin/login.html", form=form, failed=failed), 401 if failed else 200


@bp.post("/logout")
def logout():
    """Sign out: this session and every other of this user end on the server, copies of the cookie included."""
    require_token(ActionForm)
    sessions.sign_out("admin", AdminUser)
    return redirect(url_for(".login"))


@bp.get("/")
@login_required
def sites_index():
    return render_template("admin/sites.html",
                           sites=operators.visible_sites(g.admin, configs.list_sites(get_session())))


@bp.route("/sites/new", methods=["GET", "POST"])
@owner_required
def new_site():
    settings = NewSiteForm(prefix="site")
    policy = PolicyForm(prefix="policy", data=site_editor.NEW_SITE_POLICY)
    problems = []
    # `&`, not `and`: validate both forms so every field error shows at once.
    if request.method == "POST" and settings.validate() & policy.validate():
        try:
            with write_transaction() as db_session:
                site_editor.create_site(db_session, settings.site_id.data.strip(), settings, policy)
            return redirect(url_for(".site_page", site_id=settings.site_id.data.strip()), code=303)
        except ConsentError as error:
            problems = _errors(error)
    elif request.method == "POST":
        problems = _field_problems(settings) + _field_problems(policy)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/new_site.html", settings=settings, policy=policy, problems=problems), status


MINORS_SHOWN = 50


def _site_page(site_id, settings=None, problems=(), new_token=None, status=200, rotate_form=None):
    db_session = get_session()
    config = configs.export_site(db_session, site_id)
    return render_template(
        "admin/site.html",
        site=configs.get_site(db_session, site_id),
        config=config,
        settings=settings or SiteSettingsForm(data=site_editor.settings_data(config)),
        key_form=ApiKeyForm(),
        action=ActionForm(),
        keys=api_keys.list_keys(db_session, site_id),
        new_token=new_token,
        versions=site_editor.policy_versions(db_session, site_id),
        webhook_secret=site_editor.webhook_secret(db_session, site_id),
        deliveries=webhooks.recent_deliveries(db_session, site_id),
        subject_secrets=identity.list_secrets(db_session, site_id),
        # The first page of the minors awaiting a guardian; the site API and the CLI page through them all.
        minors=guardians.pending_guardians(db_session, site_id, limit=MINORS_SHOWN),
        rotate_form=rotate_form or SubjectSecretRotateForm(),
        # The latest scan, and the latest finished one among these: the page's "Compliance scan" section.
        recent_scans=scans.history(db_session, site_id, limit=20),
        problems=problems,
    ), status


@bp.route("/sites/<site_id>", methods=["GET", "POST"])
@login_required
def site_page(site_id):
    form = SiteSettingsForm()
    if request.method == "GET":
        return _site_page(site_id)
    if form.validate_on_submit():
        try:
            with write_transaction() as db_session:
                config = configs.export_site(db_session, site_id)
                site_editor.save(db_session, site_editor.with_settings(config, form))
            return redirect(url_for(".site_page", site_id=site_id, saved=1), code=303)
        except ConsentError as error:
            return _site_page(site_id, form, _errors(error), status=422)
    return _site_page(site_id, form, _field_problems(form), status=422)


@bp.route("/sites/<site_id>/publish", methods=["GET", "POST"])
@login_required
def publish(site_id):
    """Publish a new policy version: the only way purposes and banner texts change."""
    db_session = get_session()
    site = configs.get_site(db_session, site_id)
    form = PolicyForm() if request.method == "POST" else PolicyForm(
        data=site_editor.policy_data(configs.export_site(db_session, site_id))
    )
    problems = []
    if form.validate_on_submit():
        try:
            with write_transaction() as write_session:
                site_editor.publish_policy(write_session, site_id, form)
            return redirect(url_for(".site_page", site_id=site_id, published=1), code=303)
        except ConsentError as error:
            problems = _errors(error)
    elif request.method == "POST":
        problems = _field_problems(form)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/publish.html", site=site, form=form, problems=problems), status


@bp.post("/sites/<site_id>/keys")
@login_required
def create_key(site_id):
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return _site_page(site_id, problems=_form_problems(form), status=422)
    with write_transaction() as db_session:
        configs.get_site(db_session, site_id)
        _key, token = api_keys.create_key(db_session, site_id, form.label.data.strip())
    return _site_page(site_id, new_token=token, status=201)  # shown this once, never again


@bp.post("/sites/<site_id>/keys/<prefix>/revoke")
@login_required
def revoke_key(site_id, prefix):
    require_token(ActionForm)
    with write_transaction() as db_session:
        api_keys.revoke_key(db_session, site_id, prefix)
    return redirect(url_for(".site_page", site_id=site_id), code=303)


@bp.post("/sites/<site_id>/webhook/secret")
@login_required
def rotate_webhook_secret(site_id):
    require_token(ActionForm)
    with write_transaction() as db_session:
        webhooks.rotate_secret(db_session, site_id)
    return redirect(url_for(".site_page", site_id=site_id), code=303)


@bp.post("/sites/<site_id>/subject-secret")
@login_required
def rotate_subject_secret(site_id):
    """A new subject secret; the old ones keep verifying for the overlap the operator chose."""
    form = SubjectSecretRotateForm()
    if not form.validate_on_submit():
        return _site_page(site_id, problems=_form_problems(form),
                          status=422, rotate_form=form)
    with write_transaction() as db_session:
        configs.get_site(db_session, site_id)
        identity.rotate_secret(db_session, site_id, form.overlap_hours.data * 3600)
    return redirect(url_for(".site_page", site_id=site_id), code=303)


@bp.get("/sites/<site_id>/preview")
@login_required
def preview(site_id):
    """The site's banner in both languages, side by side, as visitors will see it."""
    return render_template("admin/preview.html", site=configs.get_site(get_session(), site_id))


@bp.get("/sites/<site_id>/preview/<any('zh-CN', 'en'):language>")
@login_required
def preview_frame(site_id, language):
    """One language of the preview: the real widget in device mode, which records nothing.

    The site's consent cookie on this origin is cleared with the page, so the banner always shows.
    """
    site = configs.get_site(get_session(), site_id)
    response = make_response(render_template("admin/preview_frame.html", site=site, language=language))
    response.delete_cookie(cookie_declarations.own_cookie(site.id), path="/", samesite="Lax")
    return response


# --- Users and their roles (owners only) -----------------------------------------------------------


@bp.get("/users")
@owner_required
def users_index():
    return render_template("admin/users.html", users=operators.list_users(get_session()))


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@owner_required
def user_roles(user_id):
    """One user's role: owner of everything, or operator of the sites ticked."""
    db_session = get_session()
    user = operators.by_id(db_session, user_id)
    if user is None:
        abort(404)
    if request.method == "GET":
        form = AdminRoleForm(data={"role": user.role, "sites": user.site_ids})
    else:
        form = AdminRoleForm()
    form.sites.choices = [(site.id, site.id) for site in configs.list_sites(db_session)]
    problems = []
    if form.validate_on_submit():
        chosen = form.sites.data if form.role.data == operators.OPERATOR else []
        try:
            with write_transaction() as write_session:
                operators.set_role(write_session, operators.by_id(write_session, user_id), form.role.data, chosen)
            if user_id == g.admin.id and form.role.data != operators.OWNER:
                return redirect(url_for(".sites_index"), code=303)  # the users page is no longer theirs
            return redirect(url_for(".users_index", saved=user.username), code=303)
        except operators.LastOwner:
            problems = [gettext("This is the only owner: make another user an owner first.")]
        except ConsentError as error:
            problems = _errors(error)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/user.html", user=user, form=form, problems=problems), status
