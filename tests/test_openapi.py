"""The OpenAPI document describes exactly the /api/v1 routes, and the real responses conform to it."""
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from consent import openapi
from tests.audit_support import make_auditor
from tests.conftest import SHOP_ORIGIN, bearer, create_api_key, import_site, load_site_config

# Flask adds these to every route by itself; the preflight OPTIONS is documented but not compared.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
# A fixed, small budget: every operation is tried this many times per storage backend.
EXAMPLES_PER_OPERATION = 30


def documented_routes(spec):
    return {(path, method.upper()) for path, operations in spec["paths"].items() for method in operations
            if method.upper() not in IMPLICIT_METHODS}


def openapi_path(rule):
    """A Flask rule (/sites/<site_id>) as an OpenAPI path (/sites/{site_id})."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


def app_routes(app):
    return {
        (openapi_path(rule), method)
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
            # Bodies as they are: schemathesis reads a WSGI answer without undoing its Content-Encoding
            # (tests/test_widget_delivery.py checks the compressed ones).
            case.call_and_validate(headers={**headers, "Origin": SHOP_ORIGIN, "Accept-Encoding": "identity"},
                                   checks=checks)

        conforms()


# --- The generated document against the hand-written one it replaced, its routes, its examples ----------

BEFORE = Path(__file__).parent / "data" / "openapi_before.json"  # the hand-written document, as it last was
# What may differ from openapi_before.json, each reviewed: {("added" or "removed", fact): why}. A fact is
# one of the tuples shape() yields. Beyond these, the generated document keeps every path, operation,
# component, parameter, response status, request body and security requirement.
# Each added path's facts follow from its path; one reason serves them all.
ADDED_PATHS = {
    "/api/v1/sites/{site_id}/consent-mode.js": "Google Consent Mode v2 script (issue 14), added after the comparison.",
    "/api/v1/sites/{site_id}/consent.js": "The per-site widget script, one request to the banner (issue 14).",
    "/api/v1/sites/{site_id}/subjects/{subject_id}/guardian-decision":
        "A guardian's decision for a minor user, recorded by the site's backend (issue Guardians).",
    "/api/v1/sites/{site_id}/guardian-pending":
        "The minor users still waiting for a guardian's decision, for the site's operator (issue Guardians).",
    "/api/v1/sites/{site_id}/funnel": "The banner's anonymous marks, shown and decided (issue 17).",
}
REVIEWED_DIFFERENCES: dict[tuple, str] = {
    ("added", ("parameter", "/api/v1/sites/{site_id}/config", "get", "view", "query")):
        "The banner's view of the config (issue 14): what a first visit waits for; the default stays the full one.",
    ("added", ("response", "/api/v1/sites/{site_id}/config", "get", "422")):
        "A view that does not exist is refused (issue 14).",
    ("added", ("component", "GuardianDecision")):
        "The body of the guardian-decision route (issue Guardians), a component as ConsentRequest is.",
    ("added", ("component", "GuardianPending")):
        "The answer of the guardian-pending route (issue Guardians), a component as ConsentQueryResult is.",
    ("added", ("component", "FunnelMark")):
        "The body of the funnel route (issue 17), a component as ConsentRequest is.",
}


def shape(spec):
    """What a client relies on, as comparable facts."""
    facts = {("component", name) for name in spec["components"]["schemas"]}
    for path, operations in spec["paths"].items():
        facts.add(("path", path))
        for method, operation in operations.items():
            facts.add(("operation", path, method, operation.get("operationId")))
            facts.update(("parameter", path, method, parameter["name"], parameter["in"])
                         for parameter in operation.get("parameters", []))
            facts.update(("response", path, method, status) for status in operation["responses"])
            facts.update(("request body", path, method, media_type, json.dumps(media["schema"], sort_keys=True))
                         for media_type, media in operation.get("requestBody", {}).get("content", {}).items())
            facts.add(("security", path, method, json.dumps(operation.get("security"), sort_keys=True)))
    return facts


def test_generated_document_keeps_what_the_hand_written_one_promised():
    before, after = shape(json.loads(BEFORE.read_text(encoding="utf-8"))), shape(openapi.document())
    differences = {("removed", fact) for fact in before - after} | {("added", fact) for fact in after - before}
    differences = {difference for difference in differences
                   if not (difference[0] == "added" and difference[1][1] in ADDED_PATHS)}
    assert set(ADDED_PATHS) <= {fact[1] for fact in after if fact[0] == "path"} - {fact[1] for fact in before}
    assert all(reason.strip() for reason in REVIEWED_DIFFERENCES.values())
    assert sorted(differences - REVIEWED_DIFFERENCES.keys()) == [], "unreviewed differences"
    assert sorted(REVIEWED_DIFFERENCES.keys() - differences) == [], "reviewed differences that no longer occur"


# The blueprints that serve /api/v1/...: every route of theirs is in the document, with its methods.
API_BLUEPRINTS = {"api", "backend", "audit_api", "verification"}
# Routes of those blueprints the document leaves out, with why.
UNDOCUMENTED_ROUTES = {
    "/.well-known/jwks.json": "The RFC 7517 key set, at its well-known address: not part of /api/v1.",
}


def test_every_route_of_the_api_blueprints_is_documented_with_its_methods(app):
    rules = list(app.url_map.iter_rules())
    assert {rule.endpoint.rpartition(".")[0] for rule in rules if rule.rule.startswith("/api/v1/")} == API_BLUEPRINTS
    documented = {path: {method.upper() for method in operations} for path, operations in
                  openapi.document()["paths"].items()}
    api_rules = [rule for rule in rules if rule.endpoint.rpartition(".")[0] in API_BLUEPRINTS]
    assert {rule.rule for rule in api_rules} >= UNDOCUMENTED_ROUTES.keys()
    missing = []
    for rule in api_rules:
        if rule.rule in UNDOCUMENTED_ROUTES:
            continue
        # HEAD comes with every GET; OPTIONS counts only where a route answers it itself (a CORS preflight).
        methods = rule.methods - {"HEAD"} - ({"OPTIONS"} if rule.provide_automatic_options else set())
        missing += [(openapi_path(rule), method) for method in sorted(methods)
                    if method not in documented.get(openapi_path(rule), set())]
    assert missing == []


SUBSCHEMAS = ("items", "additionalProperties", "propertyNames", "not", "contains")
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SUBSCHEMA_MAPS = ("properties", "$defs", "patternProperties")


def pointer(*steps):
    return "/".join(str(step).replace("~", "~0").replace("/", "~1") for step in ("#", *steps))


def schema_examples(schema, at):
    """(example, where its schema is) for every example of a schema and of its subschemas."""
    if not isinstance(schema, dict):
        return
    if "example" in schema:
        yield schema["example"], at
    for example in schema.get("examples", []):
        yield example, at
    for keyword in SUBSCHEMAS:
        yield from schema_examples(schema.get(keyword), f"{at}/{pointer(keyword)[2:]}")
    for keyword in SUBSCHEMA_LISTS:
        for index, subschema in enumerate(schema.get(keyword, [])):
            yield from schema_examples(subschema, f"{at}/{keyword}/{index}")
    for keyword in SUBSCHEMA_MAPS:
        for name, subschema in schema.get(keyword, {}).items():
            yield from schema_examples(subschema, f"{at}/{pointer(keyword, name)[2:]}")


def holder_examples(holder, at):
    """Examples of a parameter or media type object (checked against its `schema`), and of that schema."""
    if "example" in holder:
        yield holder["example"], f"{at}/schema"
    for example in holder.get("examples", {}).values():
        yield example["value"], f"{at}/schema"
    yield from schema_examples(holder.get("schema"), f"{at}/schema")


def documented_examples(spec):
    for name, schema in spec["components"]["schemas"].items():
        yield from schema_examples(schema, pointer("components", "schemas", name))
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            at = pointer("paths", path, method)
            for index, parameter in enumerate(operation.get("parameters", [])):
                yield from holder_examples(parameter, f"{at}/parameters/{index}")
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                yield from holder_examples(media, f"{at}/requestBody/content/{pointer(media_type)[2:]}")
            for status, response in operation["responses"].items():
                for media_type, media in response.get("content", {}).items():
                    yield from holder_examples(media, f"{at}/responses/{status}/content/{pointer(media_type)[2:]}")


def validators(spec):
    """A JSON Schema validator of the schema at a pointer of `spec`: OpenAPI 3.1 schemas are JSON Schema
    2020-12, and their "#/components/..." $refs point into the document."""
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(spec, DRAFT202012))
    return lambda at: Draft202012Validator({"$ref": f"urn:openapi{at}"}, registry=registry,
                                           format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_every_example_validates_against_its_own_schema():
    spec = openapi.document()
    validator_at = validators(spec)
    checked, invalid = [], []
    for example, at in documented_examples(spec):
        validator = validator_at(at)
        checked.append((json.dumps(example), at))
        invalid += [(at, error.message) for error in validator.iter_errors(example)]
    assert invalid == []
    # Not vacuous: today's examples are all found (site and subject parameters, the consent query).
    assert {'"shop"', '"alice"'} <= {example for example, _ in checked}
    assert pointer("components", "schemas", "ConsentQuery") in {at for _, at in checked}


def test_answers_the_generated_requests_seldom_get_conform_too(app, client, consent):
    """A stored decision, its receipt (also as an auditor sees it), a user's decision for another device:
    schemathesis rarely or never gets these, so they are checked here against the served document."""
    validator_at = validators(client.get("/api/v1/openapi.json").get_json())
    recorded = consent.post(**consent.user("alice"))
    receipt = urlsplit(recorded.get_json()["receipt_url"])
    receipt_id = recorded.get_json()["receipt_id"]
    answers = {
        ("/api/v1/consents", "post", "201"): recorded,
        ("/api/v1/receipts/{receipt_id}", "get", "200"): client.get(f"{receipt.path}?{receipt.query}"),
        ("/api/v1/audit/receipts/{receipt_id}", "get", "200"): client.get(
            f"/api/v1/audit/receipts/{receipt_id}", headers=bearer(make_auditor(app, ["shop"])[0])),
        ("/api/v1/sites/{site_id}/subject-decision", "post", "200"): client.post(
            "/api/v1/sites/shop/subject-decision", json=consent.user("alice"), headers={"Origin": SHOP_ORIGIN}),
    }
    for (path, method, status), response in answers.items():
        assert response.status_code == int(status), path
        at = pointer("paths", path, method, "responses", status, "content", "application/json", "schema")
        assert [error.message for error in validator_at(at).iter_errors(response.get_json())] == [], path
    assert answers["/api/v1/sites/{site_id}/subject-decision", "post", "200"].get_json()["decision"] is not None


def test_guardian_answers_conform_too(app, client, consent, shop_key):
    """A guardian's decision and a non-empty list of minors waiting: schemathesis meets neither (the shop has no
    age gate there), so they are checked here against the served document."""
    validator_at = validators(client.get("/api/v1/openapi.json").get_json())
    import_site(app, load_site_config(age_gate=True))
    for subject_id in ("kid-1", "kid-2"):
        assert consent.post(**consent.user(subject_id), age_statement="minor").status_code == 201
    decision = {"choices": {"necessary": True, "marketing_sms": True}, "policy_version": "v1", "language": "en"}
    answers = {
        ("/api/v1/sites/{site_id}/subjects/{subject_id}/guardian-decision", "post", "201"): client.post(
            "/api/v1/sites/shop/subjects/kid-1/guardian-decision", json=decision, headers=bearer(shop_key)),
        ("/api/v1/sites/{site_id}/guardian-pending", "get", "200"): client.get(
            "/api/v1/sites/shop/guardian-pending?limit=1", headers=bearer(shop_key)),
        ("/api/v1/sites/{site_id}/subjects/{subject_id}/consents", "get", "200"): client.get(
            "/api/v1/sites/shop/subjects/kid-1/consents", headers=bearer(shop_key)),
    }
    for (path, method, status), response in answers.items():
        assert response.status_code == int(status), path
        at = pointer("paths", path, method, "responses", status, "content", "application/json", "schema")
        assert [error.message for error in validator_at(at).iter_errors(response.get_json())] == [], path
    assert [entry["subject_id"] for entry in answers[
        "/api/v1/sites/{site_id}/guardian-pending", "get", "200"].get_json()["subjects"]] == ["kid-2"]
