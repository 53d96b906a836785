"""The OpenAPI document describes exactly the /api/v1 routes, and the real responses conform to it."""
import re

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import SHOP_ORIGIN, bearer, create_api_key

# Flask adds these to every route by itself; the preflight OPTIONS is documented but not compared.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
# A fixed, small budget: every operation is tried this many times per storage backend.
EXAMPLES_PER_OPERATION = 30


def documented_routes(spec):
    return {(path, method.upper()) for path, operations in spec["paths"].items() for method in operations
            if method.upper() not in IMPLICIT_METHODS}


def app_routes(app):
    return {
        (re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
        for method in rule.methods - IMPLICIT_METHODS
    }


def test_spec_documents_every_api_route_and_nothing_else(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert documented_routes(spec) == app_routes(app)


def operations(app):
    """Every operation of the served document, through schemathesis (driven directly: its pytest
    plugin does not support this pytest version)."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def aim_at_known_records(case):
    """Point half the generated cases at the site, subject and policy that exist, so that the
    successful answers get checked too, not only the refusals of random names."""
    if case.path_parameters and "site_id" in case.path_parameters:
        case.path_parameters["site_id"] = "shop"
    if case.path_parameters and "subject_id" in case.path_parameters:
        case.path_parameters["subject_id"] = "alice"
    if isinstance(case.body, dict) and "policy_version" in case.body:
        case.body.update(site_id="shop", policy_version="v1")


def test_api_conforms_to_its_spec(app, consent):
    # Something to find: a decision of "alice", the documented example subject, readable with the key.
    consent.post(**consent.user("alice"), choices={"necessary": True, "marketing_sms": True})
    headers = bearer(create_api_key(app))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

    for operation in operations(app):
        @given(case=operation.as_strategy(), known=st.booleans())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def conforms(case, known):
            if known:
                aim_at_known_records(case)
            case.call_and_validate(headers={**headers, "Origin": SHOP_ORIGIN}, checks=checks)

        conforms()
