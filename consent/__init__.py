"""Consent service: an embeddable consent banner, granular consent records and signed receipts."""
from pathlib import Path

from flask import Flask

from consent import cli, config, errors, i18n
from consent.accounts.sessions import SessionCookies
from consent.admin import scans as _admin_scans  # noqa: F401  (its routes join the console's blueprint)
from consent.admin import stats as _admin_stats  # noqa: F401  (likewise)
from consent.admin.routes import bp as admin_bp
from consent.audit.api import bp as audit_api_bp
from consent.audit.console import bp as auditor_bp
from consent.http import clients, limits, links, request_log, security
from consent.ledger import writer
from consent.proof.routes import bp as proof_bp
from consent.site_api.routes import bp as site_api_bp
from consent.sites import widget_config
from consent.storage import db
from consent.visitor import widget_script
from consent.visitor.api import bp as visitor_api_bp
from consent.visitor.pages import bp as visitor_pages_bp

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config_overrides=None):
    """Build the application: defaults, environment, then `config_overrides` (tests pass theirs)."""
    app = Flask(
        __name__,
        static_folder=str(PROJECT_ROOT / "static"),
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.from_mapping(config.defaults())
    app.config.from_mapping(config.from_environment())
    if config_overrides:
        app.config.from_mapping(config_overrides)
    config.fill_instance_defaults(app)
    app.session_interface = SessionCookies()

    db.init_app(app)
    writer.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    links.init_app(app)
    cli.init_app(app)
    clients.init_app(app)
    limits.init_app(app)
    security.init_app(app)
    request_log.init_app(app)
    widget_config.init_app(app)
    widget_script.init_app(app)
    for blueprint in (visitor_pages_bp, visitor_api_bp, site_api_bp, admin_bp, proof_bp, audit_api_bp, auditor_bp):
        app.register_blueprint(blueprint)
    return app
