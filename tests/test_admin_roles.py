"""Owners and operators (issue 12, finding 8): an operator of site A gets 403 on every console page and
action of site B, sees only A, creates no site and manages no user; owners give roles in the console or
with `flask consent admin ...`; admin users that existed before the roles became owners."""
import re

import pytest
from sqlalchemy import func, select, text

from consent import create_app
from consent.accounts import operators
from consent.storage import db
from consent.storage.models import PolicyVersion, Site, SubjectSecret
from consent.storage.operations import AdminUser, ApiKey, SiteWebhook
from tests.audit_support import import_other_site
from tests.conftest import PASSWORD, STORAGE_AGNOSTIC, OperatorActions, csrf_token
from tests.test_admin import new_site_fields

pytestmark = STORAGE_AGNOSTIC  # console and page logic over storage; tests/conftest.py


def make_user(app, username, role=operators.OWNER, site_ids=()):
    with app.app_context(), db.write_transaction() as session:
        return operators.set_password(session, username, PASSWORD, role, site_ids).id


def signed_in(app, username):
    client = app.test_client()
    assert OperatorActions(client).login(username).status_code == 302
    return client


@pytest.fixture
def console(app):
    """Sites `shop` and `other`; `owner` owns everything, `alice` operates `shop` only."""
    import_other_site(app)
    make_user(app, "owner")
    make_user(app, "alice", operators.OPERATOR, ["shop"])
    return app


def site_state(app, site_id):
    """Everything a console action on a site could change, as comparable values."""
    with app.app_context():
        session = db.get_session()
        counts = [session.scalar(select(func.count()).select_from(model).where(model.site_id == site_id))
                  for model in (ApiKey, SubjectSecret, PolicyVersion)]
        site = session.get(Site, site_id)
        webhook = session.get(SiteWebhook, site_id)
        return (*counts, webhook and webhook.secret,
                site and (site.name, site.current_policy_version, site.allowed_origins))


def site_routes(app):
    """Every console URL that names a site, with each of its methods."""
    return [(rule, method) for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")
            and "site_id" in rule.arguments for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def path_for(rule, site_id):
    fill = {"site_id": site_id, "prefix": "csk_x", "language": "en", "scan_id": "1"}
    return re.sub(r"<(?:[^:>]+:)?([a-z_]+)>|<any\([^)]*\):([a-z_]+)>",
                  lambda match: fill[match.group(1) or match.group(2)], rule.rule)


@pytest.mark.parametrize("site_id", ["other", "nope"])
def test_an_operator_gets_403_on_every_page_and_action_of_another_site(console, site_id):
    alice = signed_in(console, "alice")
    token = csrf_token(alice.get("/admin/sites/shop").get_data(as_text=True))  # a valid token of her own
    before = site_state(console, "other")
    routes = site_routes(console)
    assert {rule.endpoint for rule, _method in routes} >= {
        "admin.site_page", "admin.publish", "admin.create_key", "admin.revoke_key", "admin.rotate_webhook_secret",
        "admin.rotate_subject_secret", "admin.preview", "admin.preview_frame"}
    for rule, method in routes:
        fields = {"csrf_token": token, "label": "stolen", "overlap_hours": "0", **new_site_fields()}
        answer = alice.open(path_for(rule, site_id), method=method, data=fields if method == "POST" else None)
        assert answer.status_code == 403, (method, rule.rule, answer.status_code)
        assert "csk_" not in answer.get_data(as_text=True)
    assert site_state(console, "other") == before


def test_an_operator_manages_their_own_site_fully(console):
    alice = signed_in(console, "alice")
    operator = OperatorActions(alice)
    assert alice.get("/admin/sites/shop").status_code == 200
    assert alice.get("/admin/sites/shop/publish").status_code == 200
    assert alice.get("/admin/sites/shop/preview").status_code == 200
    assert alice.get("/admin/sites/shop/preview/en").status_code == 200
    assert operator.submit("/admin/sites/shop/keys", {"label": "crm"}, "/admin/sites/shop").status_code == 201
    assert operator.submit("/admin/sites/shop/subject-secret", {"overlap_hours": "1"},
                           "/admin/sites/shop").status_code == 303


def test_an_operator_sees_only_their_sites_and_creates_none(console):
    alice = signed_in(console, "alice")
    index = alice.get("/admin/?lang=en").get_data(as_text=True)
    assert "/admin/sites/shop" in index and "/admin/sites/other" not in index
    assert "Create a site" not in index and "/admin/users" not in index
    assert alice.get("/admin/sites/new").status_code == 403
    token = csrf_token(index)
    created = alice.post("/admin/sites/new", data={"site-csrf_token": token, "policy-csrf_token": token,
                                                   **new_site_fields()})
    assert created.status_code == 403 and site_state(console, "bakery")[-1] is None


def test_an_operator_of_no_site_is_told_so(console):
    make_user(console, "bob", operators.OPERATOR)
    index = signed_in(console, "bob").get("/admin/?lang=en").get_data(as_text=True)
    assert "No site is assigned to you yet" in index and "/admin/sites/shop" not in index


@pytest.mark.parametrize("path", ["/admin/users", "/admin/users/1"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_only_owners_manage_users(console, path, method):
    alice = signed_in(console, "alice")
    token = csrf_token(alice.get("/admin/sites/shop").get_data(as_text=True))
    answer = alice.open(path, method=method, data={"csrf_token": token, "role": "owner"})
    assert answer.status_code in (403, 405)
    with console.app_context():
        assert db.get_session().scalars(select(AdminUser).where(AdminUser.username == "alice")).one().role == "operator"


def test_an_owner_sees_every_site_and_gives_roles_in_the_console(console):
    owner, alice = signed_in(console, "owner"), signed_in(console, "alice")
    index = owner.get("/admin/?lang=en").get_data(as_text=True)
    assert "/admin/sites/shop" in index and "/admin/sites/other" in index and "Create a site" in index
    users = owner.get("/admin/users?lang=en").get_data(as_text=True)
    assert "alice" in users and "every site" in users
    alice_id = _user_id(console, "alice")
    page = owner.get(f"/admin/users/{alice_id}?lang=zh-CN").get_data(as_text=True)
    assert "运营者" in page
    saved = owner.post(f"/admin/users/{alice_id}", data={"csrf_token": csrf_token(page), "role": "operator",
                                                          "sites": ["other"]})
    assert saved.status_code == 303
    # Alice's open session follows at once: shop is no longer hers, other is.
    assert alice.get("/admin/sites/shop").status_code == 403 and alice.get("/admin/sites/other").status_code == 200


@pytest.mark.parametrize(
    ("what", "fields"),
    [
        ("unknown role", {"role": "root"}),
        ("no role", {}),
        ("unknown site", {"role": "operator", "sites": ["nope"]}),
        ("NUL in a site", {"role": "operator", "sites": ["shop\x00"]}),
        ("site for an owner is ignored, last owner demoted", {"role": "operator", "sites": ["shop"]}),
    ],
)
def test_hostile_role_changes_change_nothing(console, what, fields):
    owner = signed_in(console, "owner")
    owner_id = _user_id(console, "owner")
    page = owner.get(f"/admin/users/{owner_id}?lang=en").get_data(as_text=True)
    answer = owner.post(f"/admin/users/{owner_id}?lang=en", data={"csrf_token": csrf_token(page), **fields})
    assert answer.status_code == 422, what
    if what.endswith("last owner demoted"):
        assert "This is the only owner" in answer.get_data(as_text=True)
    assert owner.get("/admin/users").status_code == 200  # still the owner


def test_role_changes_need_the_csrf_token(console):
    owner = signed_in(console, "owner")
    answer = owner.post(f"/admin/users/{_user_id(console, 'alice')}", data={"role": "owner"})
    assert answer.status_code == 422
    assert signed_in(console, "alice").get("/admin/users").status_code == 403


def _user_id(app, username):
    with app.app_context():
        return db.get_session().scalar(select(AdminUser.id).where(AdminUser.username == username))


# --- flask consent admin ... -------------------------------------------------------------------


def invoke(app, *args, input=None):
    return app.test_cli_runner().invoke(args=["consent", "admin", *args], input=input)


def roles(app):
    return invoke(app, "list").output.splitlines()


PASSWORD_INPUT = f"{PASSWORD}\n{PASSWORD}\n"


def test_admin_create_keeps_working_for_existing_scripts(app):
    assert invoke(app, "create", "root", input=PASSWORD_INPUT).exit_code == 0
    assert roles(app) == ["root\towner\t*"]
    again = invoke(app, "create", "root", input="another password\nanother password\n")
    assert again.exit_code == 0 and "new password" in again.output and roles(app) == ["root\towner\t*"]


def test_admin_cli_creates_operators_and_grants_and_revokes_sites(app):
    import_other_site(app)
    assert invoke(app, "create", "alice", "--site", "shop", input=PASSWORD_INPUT).exit_code == 0
    assert invoke(app, "create", "bob", "--role", "operator", input=PASSWORD_INPUT).exit_code == 0
    assert invoke(app, "create", "root", "--role", "owner", input=PASSWORD_INPUT).exit_code == 0
    assert roles(app) == ["alice\toperator\tshop", "bob\toperator\t-", "root\towner\t*"]
    assert invoke(app, "grant", "alice", "--site", "other").output == "alice\toperator\tother shop\n"
    assert invoke(app, "revoke", "alice", "--site", "shop").output == "alice\toperator\tother\n"
    assert invoke(app, "grant", "bob", "--owner").exit_code == 0
    assert invoke(app, "revoke", "root", "--owner").exit_code == 0
    assert roles(app) == ["alice\toperator\tother", "bob\towner\t*", "root\toperator\t-"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "carol", "--role", "owner", "--site", "shop"), "every site"),
        (("create", "carol", "--site", "nope"), "No such site"),
        (("create", "carol", "--role", "admin"), "Invalid value"),
        (("create", "root", "--site", "shop"), "exists already"),
        (("grant", "alice"), "either --site"),
        (("grant", "alice", "--site", "shop", "--owner"), "either --site"),
        (("grant", "alice", "--site", "nope"), "No such site"),
        (("grant", "alice", "--site", "shop\x00"), "No such site"),
        (("grant", "nobody", "--site", "shop"), "No admin user"),
        (("grant", "root", "--site", "shop"), "owner"),
        (("revoke", "root", "--owner"), "only owner"),
        (("revoke", "root", "--site", "shop"), "owner"),
    ],
)
def test_admin_cli_refuses_what_makes_no_sense(app, args, message):
    make_user(app, "root")
    make_user(app, "alice", operators.OPERATOR, ["shop"])
    before = roles(app)
    result = invoke(app, *args, input=PASSWORD_INPUT)
    assert result.exit_code != 0 and message in result.output, result.output
    assert roles(app) == before


def test_admin_users_from_before_the_roles_become_owners(tmp_path):
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'old.sqlite3'}",
                      "SECRET_KEY": "test-secret", "CONSENT_KEY_DIR": str(tmp_path / "keys")})
    db.upgrade(app, "0008_verified_subjects")
    with app.app_context(), db.write_transaction() as session:
        session.execute(text("INSERT INTO admin_users (username, password_hash, created_at) "
                             "VALUES ('veteran', 'x', CURRENT_TIMESTAMP)"))
    db.upgrade(app)
    with app.app_context():
        veteran = db.get_session().scalars(select(AdminUser)).one()
        assert (veteran.role, veteran.site_ids, veteran.session_generation) == ("owner", [], 0)
    db.dispose(app)
