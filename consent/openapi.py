"""The OpenAPI 3.1 description of every /api/v1 endpoint, served at /api/v1/openapi.json.

Generated with apispec from marshmallow schemas: request bodies and query strings from consent/schemas.py
(the very schemas that load them), answers from consent/answer_schemas.py, the receipt from its own JSON
Schema (consent/proof/receipt.schema.json). Here are only the paths, what each answers, and why it refuses.

Kept true by tests: one compares it with the app's routes, one checks every example against its schema,
and schemathesis checks the real responses against it.
"""
import copy
import functools

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import fields, validate

from consent import answer_schemas as answers
from consent import schemas
from consent.proof import RECEIPT_SCHEMA

# Component name -> marshmallow schema. Any other schema met on the way is written out where it is used.
COMPONENTS = {
    "Problem": answers.ProblemSchema,
    "ConsentRequest": schemas.ConsentRequestSchema,
    "ConsentResult": answers.ConsentResultSchema,
    "VisitorProof": schemas.VisitorProofSchema,
    "HistoryLink": answers.HistoryLinkSchema,
    "SubjectDecision": answers.SubjectDecisionSchema,
    "ProblemType": answers.ProblemTypeSchema,
    "StoredReceipt": answers.StoredReceiptSchema,
    "SiteConfig": answers.WidgetConfigSchema,
    "WidgetPurpose": answers.WidgetPurposeSchema,
    "PurposeDecision": answers.PurposeDecisionSchema,
    "SubjectConsents": answers.SubjectConsentsSchema,
    "ConsentQuery": schemas.ConsentQuerySchema,
    "ConsentQueryResult": answers.ConsentQueryResultSchema,
    "Erasure": answers.ErasureSchema,
    "GuardianDecision": schemas.GuardianDecisionSchema,
    "GuardianPending": answers.GuardianPendingSchema,
    "FunnelMark": schemas.FunnelMarkSchema,
}
COMPONENT_NAMES = {schema: name for name, schema in COMPONENTS.items()}
EXAMPLES = {"ConsentQuery": {"subjects": ["user-42", "user-43"], "purpose": "marketing_sms"},
            "GuardianDecision": {"choices": {"necessary": True, "marketing_sms": True}, "policy_version": "v1",
                                 "language": "zh-CN"},
            "FunnelMark": {"mark": "accept_all", "language": "zh-CN", "seconds": 7}}
RECEIPT_JWS = {
    "type": ["string", "null"],
    "description": "Compact JWS (EdDSA, kid in the header) over the receipt's canonical JSON; verify it "
                   "offline with /.well-known/jwks.json. Null only for receipts stored before Ed25519 signing.",
}
SECURITY_SCHEMES = {
    "siteApiKey": {"type": "http", "scheme": "bearer",
                   "description": "A site's API key (csk_...), from the console or `flask consent apikey create`."},
    "auditorToken": {"type": "http", "scheme": "bearer",
                     "description": "An auditor's API token, from `flask consent auditor create`."},
}
SITE_KEY = [{"siteApiKey": []}]
AUDITOR = [{"auditorToken": []}]
STRING = {"type": "string"}
REFUSALS = {
    401: "No API key (or auditor token), or an unknown or revoked one.",
    403: "Refused: origin not allowed, key of another site (or a site outside the auditor's scope), "
         "a token that does not verify, or (banner marks) the site turned its banner statistics off.",
    404: "No such site or record.",
    409: "The policy version is not the current one; for checkpoints: the chain does not verify; for a guardian's "
         "decision: the site has no age gate, or the user's latest decision is no minor's.",
    413: "The body is too large.",
    422: "The request does not match the schema (see `errors`) or breaks a consent rule.",
}


def _json_schema_terms(converter, field, ret):
    """An apispec attribute function: what it leaves out, or says in Python's terms, for our fields."""
    if isinstance(field, answers.Component):
        ret.clear()
        return {"$ref": f"#/components/schemas/{field.component}"}
    inner = [rule for outer in field.validators if isinstance(outer, validate.And) for rule in outer.validators]
    if inner:  # apispec reads only the validators it meets at the top, not those inside validate.And
        unpacked = copy.copy(field)
        unpacked.validators = inner
        ret.update({**converter.field2length(unpacked), **converter.field2pattern(unpacked)})
    if isinstance(field, fields.Dict):
        for length, size in (("minLength", "minProperties"), ("maxLength", "maxProperties")):
            if length in ret:
                ret[size] = ret.pop(length)
        if field.key_field is not None and field.key_field.validators:
            ret["propertyNames"] = converter.field2property(field.key_field)
    if "pattern" in ret:  # Python's \A and \Z are ECMA-262's ^ and $ (JSON Schema patterns are ECMA-262)
        ret["pattern"] = ret["pattern"].replace("\\A", "^").replace("\\Z", "$")
    return {}


def _query_terms(_converter, _field, ret):
    """An apispec parameter attribute function: a query parameter is absent or text, never null."""
    schema = ret["schema"]
    if isinstance(schema.get("type"), list):
        kinds = [kind for kind in schema["type"] if kind != "null"]
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    if schema.get("default", ...) is None:
        del schema["default"]
    return {}


def _moved_refs(node, base):
    """A JSON Schema's local $refs ("#/...") as seen from where it is embedded, at `base`."""
    if isinstance(node, dict):
        return {key: base + value[1:] if key == "$ref" and value.startswith("#/") else _moved_refs(value, base)
                for key, value in node.items()}
    if isinstance(node, list):
        return [_moved_refs(value, base) for value in node]
    return node


def _json(schema, media_type="application/json"):
    return {"content": {media_type: {"schema": schema}}}


def _problems(*statuses):
    """Problem-details responses, one per status, with why each can happen."""
    return {str(status): {"description": REFUSALS[status], **_json(answers.ProblemSchema, "application/problem+json")}
            for status in statuses}


def _operation(summary, operation_id, responses, parameters=(), body=None, security=None):
    operation = {"summary": summary, "operationId": operation_id, "responses": responses}
    if parameters:
        operation["parameters"] = list(parameters)
    if body is not None:
        operation["requestBody"] = {"required": True, **_json(body)}
    if security is not None:
        operation["security"] = security
    return operation


def _answer(description, schema, **more_responses):
    return {"200": {"description": description, **_json(schema)}, **more_responses}


def _paths(converter):
    def path_parameter(name, validator, example):
        schema = converter.field2property(fields.String(validate=validator))
        return {"name": name, "in": "path", "required": True, "schema": schema, "example": example}

    site = path_parameter("site_id", schemas.SITE_ID, "shop")
    subject = path_parameter("subject_id", schemas.SUBJECT_ID, "alice")
    receipt_id = {"name": "receipt_id", "in": "path", "required": True, "schema": STRING}
    origin = {"name": "Origin", "in": "header", "required": False, "schema": STRING}
    allowed = {"204": {"description": "Allowed."}, **_problems(403)}

    def visitor_proof_route(summary, operation_id, answer, schema):
        """A widget endpoint that takes a VisitorProof from an allowed origin, with its CORS preflight."""
        return {
            "post": _operation(summary, operation_id, _answer(answer, schema, **_problems(403, 404, 413, 422)),
                               [site, origin], body=schemas.VisitorProofSchema),
            "options": _operation("CORS preflight.", f"{operation_id}Preflight", allowed, [site]),
        }

    def event_filters(*left_out):
        return {"in": "query", "schema": schemas.AuditEventQuerySchema(exclude=("site", *left_out))}

    checkpoint_answers = {"201": {"description": "Signed.", **_json(answers.CheckpointSchema)},
                          **_answer("No event since the latest checkpoint: that one.", answers.CheckpointSchema),
                          **_problems(401, 403, 404, 409)}
    return {
        "/api/v1/openapi.json": {"get": _operation(
            "This document.", "openapi", {"200": {"description": "OpenAPI 3.1", **_json({"type": "object"})}})},
        "/api/v1/consents": {
            "post": _operation(
                "Record a visitor's decision (called by the widget from an allowed origin).", "createConsent",
                {"201": {"description": "Recorded; the visitor's receipt.", **_json(answers.ConsentResultSchema)},
                 **_answer("Repeated idempotency key: the first receipt.", answers.ConsentResultSchema),
                 **_problems(403, 404, 409, 413, 422)},
                [origin], body=schemas.ConsentRequestSchema),
            "options": _operation("CORS preflight: answered for origins that embed some site.", "consentPreflight",
                                  allowed),
        },
        "/api/v1/sites/{site_id}/funnel": {"post": {
            **_operation(
                "One anonymous banner mark, the banner shown or the decision made from it, sent by the widget with "
                "navigator.sendBeacon from an allowed origin. Stored without anything about who sent it: no "
                "address, client hash or cookie.", "funnelMark",
                {"204": {"description": "Stored: the site, the service's time, the language, the outcome and, for a "
                                        "decision, the seconds (at most 3600 kept)."},
                 **_problems(403, 404, 413, 422)},
                [site, origin]),
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": schemas.FunnelMarkSchema},
                "text/plain": {"schema": {
                    "type": "string", "contentMediaType": "application/json",
                    "description": "The same JSON object as text, as navigator.sendBeacon sends it (no preflight); "
                                   "the body is read as JSON whatever its Content-Type, up to 256 bytes."}},
            }},
        }},
        "/api/v1/sites/{site_id}/history-link": visitor_proof_route(
            "A short-lived link to the visitor's own history, for their credential or subject token.",
            "historyLink", "The link.", answers.HistoryLinkSchema),
        "/api/v1/sites/{site_id}/subject-decision": visitor_proof_route(
            "A proven user's decision in force, so another device applies it instead of asking again.",
            "subjectDecision", "The decision in force, or null (none, or expired).", answers.SubjectDecisionSchema),
        "/api/v1/problems/{slug}": {"get": _operation(
            "What a problem type means and what a client should do about it.", "problemType",
            _answer("The problem type.", answers.ProblemTypeSchema, **_problems(404)),
            [{"name": "slug", "in": "path", "required": True, "schema": STRING}])},
        "/api/v1/sites/{site_id}/config": {"get": _operation(
            "What the widget needs to show a site's banner in one language.", "siteConfig",
            {**_answer("The configuration, with an ETag; Cache-Control: no-cache.", answers.WidgetConfigSchema),
             "304": {"description": "Unchanged since the ETag sent in If-None-Match."}, **_problems(404, 422)},
            [site, {"name": "lang", "in": "query", "required": False, "schema": STRING},
             {"name": "view", "in": "query", "required": False,
              "schema": {"type": "string", "enum": ["full", "banner"]},
              "description": "banner: without what only the preference centre and embeds show."},
             {"name": "If-None-Match", "in": "header", "required": False, "schema": STRING}])},
        "/api/v1/sites/{site_id}/consent.js": {"get": _operation(
            "The widget with the site's configuration inside, in the language of ?lang=, else the browser's, "
            "else the site's: the banner needs this one request.", "siteScript",
            {"200": {"description": "The script, with an ETag; Cache-Control: no-cache; varies on Accept-Language.",
                     "content": {"text/javascript": {"schema": STRING}}},
             "304": {"description": "Unchanged since the ETag sent in If-None-Match."}, **_problems(404)},
            [site, {"name": "lang", "in": "query", "required": False, "schema": STRING},
             {"name": "If-None-Match", "in": "header", "required": False, "schema": STRING}])},
        "/api/v1/sites/{site_id}/consent-mode.js": {"get": _operation(
            "Google Consent Mode v2 for the site: a script to load without async, before the Google tag.",
            "consentModeScript",
            {"200": {"description": "The script, with an ETag; Cache-Control: no-cache.",
                     "content": {"text/javascript": {"schema": STRING}}},
             "304": {"description": "Unchanged since the ETag sent in If-None-Match."}, **_problems(404)},
            [site, {"name": "If-None-Match", "in": "header", "required": False, "schema": STRING}])},
        "/api/v1/receipts/{receipt_id}": {"get": _operation(
            "A visitor's own receipt, opened with the token handed over with it.", "getReceipt",
            _answer("The receipt.", answers.StoredReceiptSchema, **_problems(403, 404)),
            [receipt_id, {"name": "token", "in": "query", "required": True, "schema": STRING}])},
        "/api/v1/sites/{site_id}/subjects/{subject_id}/consents": {"get": _operation(
            "Site backend: the current decision on every purpose for one user, with its receipt.",
            "subjectConsents", _answer("Per purpose.", answers.SubjectConsentsSchema, **_problems(401, 403, 404, 422)),
            [site, subject], security=SITE_KEY)},
        "/api/v1/sites/{site_id}/subjects/{subject_id}": {"delete": _operation(
            "Site backend: erase a user; their events stay as proof, unlinked from their id.", "eraseSubject",
            _answer("Erased (or nothing to erase).", answers.ErasureSchema, **_problems(401, 403, 404, 422)),
            [site, subject], security=SITE_KEY)},
        "/api/v1/sites/{site_id}/consents/query": {"post": _operation(
            f"Site backend: which of up to {schemas.MAX_BATCH_SUBJECTS} users granted a purpose.", "queryConsents",
            _answer("Decisions.", answers.ConsentQueryResultSchema, **_problems(401, 403, 404, 413, 422)),
            [site], body=schemas.ConsentQuerySchema, security=SITE_KEY)},
        "/api/v1/sites/{site_id}/subjects/{subject_id}/guardian-decision": {"post": _operation(
            "Site backend: a guardian's decision for a minor user (the site asserts the guardian relation); "
            "it replaces the minor's pending decision.", "guardianDecision",
            {"201": {"description": "Recorded; its receipt (guardianConsent given).",
                     **_json(answers.ConsentResultSchema)},
             **_answer("Repeated idempotency key: the first receipt.", answers.ConsentResultSchema),
             **_problems(401, 403, 404, 409, 413, 422)},
            [site, subject], body=schemas.GuardianDecisionSchema, security=SITE_KEY)},
        "/api/v1/sites/{site_id}/guardian-pending": {"get": _operation(
            "Site backend: the users whose latest decision is a minor's own, waiting for a guardian; paged by a "
            "position cursor (`after`).",
            "guardianPending", _answer("One page.", answers.GuardianPendingSchema, **_problems(401, 403, 404, 422)),
            [site, {"in": "query", "schema": schemas.GuardianPendingQuerySchema}], security=SITE_KEY)},
        # Proof for auditors: public verification material and the auditor API.
        "/api/v1/schemas/receipt.json": {"get": _operation(
            "The JSON Schema (draft 2020-12) every receipt validates against.", "receiptSchema",
            {"200": {"description": "The schema.", **_json({"type": "object"}, "application/schema+json")}})},
        "/api/v1/sites/{site_id}/checkpoints": {"get": _operation(
            "Every signed checkpoint of a site, oldest first, paged; public, for anyone to mirror.", "checkpoints",
            _answer("One page.", answers.CheckpointsPageSchema, **_problems(404, 422)),
            [site, {"in": "query", "schema": schemas.CheckpointPageSchema}])},
        "/api/v1/sites/{site_id}/checkpoints/latest": {"get": _operation(
            "The newest signed checkpoint (tree head) of a site's log; public, for anyone to pin.",
            "latestCheckpoint", _answer("The checkpoint.", answers.CheckpointSchema, **_problems(404)), [site])},
        "/api/v1/audit/receipts/{receipt_id}": {"get": _operation(
            "Auditor: a receipt with its HMAC, JWS and chain position verified by the server.", "auditReceipt",
            _answer("The receipt and its proof.", answers.ReceiptProofSchema, **_problems(401, 403, 404)),
            [receipt_id], security=AUDITOR)},
        "/api/v1/audit/sites/{site_id}/events": {"get": _operation(
            "Auditor: a site's events by subject, time range and purpose, in chain order lane by lane, paged by a "
            "position cursor (`after`: lane × 2^32 + seq of the last event seen).", "auditEvents",
            _answer("One page.", answers.AuditEventsPageSchema, **_problems(401, 403, 422)),
            [site, event_filters("format")], security=AUDITOR)},
        "/api/v1/audit/sites/{site_id}/events/export": {"get": _operation(
            "Auditor: every matching event, streamed as JSON Lines or CSV.", "auditExport",
            {"200": {"description": "The export.", "content": {"application/x-ndjson": {"schema": STRING},
                                                             "text/csv": {"schema": STRING}}},
             **_problems(401, 403, 422)},
            [site, event_filters("after", "limit")], security=AUDITOR)},
        "/api/v1/audit/sites/{site_id}/checkpoints": {
            "get": _operation("Auditor: every signed checkpoint of a site, oldest first.", "auditCheckpoints",
                              _answer("The checkpoints.", answers.CheckpointsSchema, **_problems(401, 403)),
                              [site], security=AUDITOR),
            "post": _operation("Auditor: verify the whole chain, then sign its current head.",
                               "auditCheckpointCreate", checkpoint_answers, [site], security=AUDITOR),
        },
    }


@functools.cache
def _document():
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: COMPONENT_NAMES.get(resolve_schema_cls(schema)))
    spec = APISpec(
        title="Consent service API", version="1", openapi_version="3.1.0", plugins=[plugin],
        info={"description": "Public endpoints for the widget and visitors; "
                             "site-backend endpoints need the site's API key."},
    )
    plugin.converter.add_attribute_function(_json_schema_terms)
    plugin.converter.add_parameter_attribute_function(_query_terms)
    spec.components.schema("Receipt", _moved_refs(
        {key: value for key, value in RECEIPT_SCHEMA.items() if key != "$schema"}, "#/components/schemas/Receipt"))
    spec.components.schema("ReceiptJws", RECEIPT_JWS)
    for name, schema in COMPONENTS.items():
        if name not in spec.components.schemas:  # not yet added, as the nested schema of an earlier one
            spec.components.schema(name, {"example": EXAMPLES[name]} if name in EXAMPLES else None, schema=schema)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    for path, operations in _paths(plugin.converter).items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def document():
    """The OpenAPI document, as a dict ready for JSON."""
    return copy.deepcopy(_document())
