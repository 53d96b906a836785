"""The OpenAPI 3.1 description of every /api/v1 endpoint, served at /api/v1/openapi.json.

Kept true by tests: one compares it with the app's routes, and schemathesis checks the real
responses against it.
"""
from consent.config import LANGUAGES
from consent.schemas import MAX_BATCH_SUBJECTS, PURPOSE_KINDS

SITE_ID = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"}
PURPOSE_ID = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"}
TOKEN = {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"}
SUBJECT_ID = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^\\u0000-\\u001f\\u007f]+$"}
NULLABLE_STRING = {"type": ["string", "null"]}
SUBJECT_TOKEN = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\u0000-\\u001f\\u007f]+$"}
VISITOR_SECRET = {"type": "string", "pattern": "^[A-Za-z0-9_-]{22,128}$"}
UUID = {"type": "string", "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema, media_type="application/json"):
    return {"content": {media_type: {"schema": schema}}}


def _problems(*statuses):
    """Problem-details responses, one per status, with why each can happen."""
    reasons = {
        401: "No API key (or auditor token), or an unknown or revoked one.",
        403: "Refused: origin not allowed, key of another site (or a site outside the auditor's scope), "
             "or a token that does not verify.",
        404: "No such site or record.",
        409: "The policy version is not the current one; for checkpoints: the chain does not verify.",
        413: "The body is too large.",
        422: "The request does not match the schema (see `errors`) or breaks a consent rule.",
    }
    return {str(status): {"description": reasons[status], **_json(_ref("Problem"), "application/problem+json")}
            for status in statuses}


SITE_PARAMETER = {"name": "site_id", "in": "path", "required": True, "schema": SITE_ID, "example": "shop"}
SUBJECT_PARAMETER = {"name": "subject_id", "in": "path", "required": True, "schema": SUBJECT_ID, "example": "alice"}
SITE_KEY = [{"siteApiKey": []}]
AUDITOR = [{"auditorToken": []}]

# --- Proof for auditors: public verification material and the auditor API ---------------------

CHECKPOINT = {
    "type": "object",
    "required": ["site_id", "count", "head_hash", "time", "kid", "jws"],
    "properties": {
        "site_id": {"type": "string"}, "count": {"type": "integer", "minimum": 0},
        "head_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "time": {"type": "string"},
        "lane": {"type": "integer", "minimum": 0,
                 "description": "Which of the site's chains it covers: 0, the only one today. Absent from "
                                "checkpoints signed before lanes were named."},
        "kid": {"type": "string"},
        "jws": {"type": "string", "description": "Compact JWS over {site_id, count, head_hash, time, lane}."},
    },
}
AUDIT_EVENT = {
    "type": "object",
    "required": ["seq", "event_id", "receipt_id", "recorded_at", "subject_ref", "action", "choices", "prev_hash",
                 "event_hash", "document"],
    "properties": {
        "seq": {"type": "integer"}, "event_id": {"type": "string"}, "receipt_id": {"type": "string"},
        "recorded_at": {"type": "string"}, "subject_ref": NULLABLE_STRING, "visitor_id": {"type": "string"},
        "policy_version": {"type": "string"}, "language": {"type": "string"}, "action": {"type": "string"},
        "choices": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "separate_consents": {"type": "array", "items": {"type": "string"}}, "signals": {"type": "object"},
        "prev_hash": {"type": "string"}, "event_hash": {"type": "string"},
        "document": {"type": "string", "description": "The exact hashed text: SHA-256 of it is event_hash."},
    },
}
EVENT_FILTERS = [
    {"name": "subject", "in": "query", "schema": SUBJECT_ID, "description": "The site's own user id."},
    {"name": "subject_ref", "in": "query", "schema": {"type": "string"}, "description": "The pseudonym."},
    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date-time"}},
    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date-time"}},
    {"name": "purpose", "in": "query", "schema": PURPOSE_ID},
    {"name": "granted", "in": "query", "schema": {"type": "boolean"}},
]
AUDIT_PATHS = {
    "/api/v1/schemas/receipt.json": {
        "get": {"summary": "The JSON Schema (draft 2020-12) every receipt validates against.",
                "operationId": "receiptSchema",
                "responses": {"200": {"description": "The schema.",
                                      **_json({"type": "object"}, "application/schema+json")}}},
    },
    "/api/v1/sites/{site_id}/checkpoints": {
        "get": {"summary": "Every signed checkpoint of a site, oldest first, paged; public, for anyone to mirror.",
                "operationId": "checkpoints",
                "parameters": [SITE_PARAMETER,
                               {"name": "after", "in": "query", "description": "Only checkpoints of more "
                                "events than this: the `next_after` of the previous page.",
                                "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}},
                               {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                           "maximum": 500}}],
                "responses": {"200": {"description": "One page.", **_json({
                    "type": "object", "required": ["checkpoints", "next_after", "next"],
                    "properties": {"checkpoints": {"type": "array", "items": CHECKPOINT},
                                   "next_after": {"type": ["integer", "null"]}, "next": NULLABLE_STRING}})},
                              **_problems(404, 422)}},
    },
    "/api/v1/sites/{site_id}/checkpoints/latest": {
        "get": {"summary": "The newest signed checkpoint (tree head) of a site's log; public, for anyone to pin.",
                "operationId": "latestCheckpoint", "parameters": [SITE_PARAMETER],
                "responses": {"200": {"description": "The checkpoint.", **_json(CHECKPOINT)}, **_problems(404)}},
    },
    "/api/v1/audit/receipts/{receipt_id}": {
        "get": {"summary": "Auditor: a receipt with its HMAC, JWS and chain position verified by the server.",
                "operationId": "auditReceipt", "security": AUDITOR,
                "parameters": [{"name": "receipt_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The receipt and its proof.", **_json({
                    "type": "object",
                    "required": ["receipt_id", "receipt", "signature", "jws", "verification", "event"],
                    "properties": {"receipt": _ref("Receipt"), "jws": _ref("ReceiptJws"),
                                   "verification": {"type": "object", "required": ["valid"]},
                                   "event": AUDIT_EVENT}})},
                              **_problems(401, 403, 404)}},
    },
    "/api/v1/audit/sites/{site_id}/events": {
        "get": {"summary": "Auditor: a site's events by subject, time range and purpose, paged by seq cursor.",
                "operationId": "auditEvents", "security": AUDITOR,
                "parameters": [SITE_PARAMETER, *EVENT_FILTERS,
                               {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                               {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                           "maximum": 500}}],
                "responses": {"200": {"description": "One page.", **_json({
                    "type": "object", "required": ["events", "next_after", "next"],
                    "properties": {"events": {"type": "array", "items": AUDIT_EVENT},
                                   "next_after": {"type": ["integer", "null"]}, "next": NULLABLE_STRING}})},
                              **_problems(401, 403, 422)}},
    },
    "/api/v1/audit/sites/{site_id}/events/export": {
        "get": {"summary": "Auditor: every matching event, streamed as JSON Lines or CSV.",
                "operationId": "auditExport", "security": AUDITOR,
                "parameters": [SITE_PARAMETER, *EVENT_FILTERS,
                               {"name": "format", "in": "query", "schema": {"enum": ["jsonl", "csv"]}}],
                "responses": {"200": {"description": "The export.", "content": {
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}}}},
                              **_problems(401, 403, 422)}},
    },
    "/api/v1/audit/sites/{site_id}/checkpoints": {
        "get": {"summary": "Auditor: every signed checkpoint of a site, oldest first.",
                "operationId": "auditCheckpoints", "security": AUDITOR, "parameters": [SITE_PARAMETER],
                "responses": {"200": {"description": "The checkpoints.", **_json({
                    "type": "object", "required": ["checkpoints"],
                    "properties": {"checkpoints": {"type": "array", "items": CHECKPOINT}}})},
                              **_problems(401, 403)}},
        "post": {"summary": "Auditor: verify the whole chain, then sign its current head.",
                 "operationId": "auditCheckpointCreate", "security": AUDITOR, "parameters": [SITE_PARAMETER],
                 "responses": {"201": {"description": "Signed.", **_json(CHECKPOINT)},
                               "200": {"description": "No event since the latest checkpoint: that one.",
                                       **_json(CHECKPOINT)},
                               **_problems(401, 403, 404, 409)}},
    },
}

SCHEMAS = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "One URL per kind of refusal: GET it for what it means."},
            "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "errors": {"type": "object"},
            "action": {"enum": ["retry", "ask_again", "drop"],
                       "description": "What a client does with what it sent: send it again later, ask the "
                                      "visitor again, or drop it."},
        },
    },
    "ConsentRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["site_id", "choices", "policy_version", "language"],
        "properties": {
            "site_id": SITE_ID,
            "subject_id": {"anyOf": [SUBJECT_ID, {"type": "null"}],
                           "description": "Bound to the decision only with a valid subject_token."},
            "subject_token": {"anyOf": [SUBJECT_TOKEN, {"type": "null"}]},
            "visitor_secret": {"anyOf": [VISITOR_SECRET, {"type": "null"}]},
            "visitor_id": {"anyOf": [TOKEN, {"type": "null"}], "deprecated": True,
                           "description": "Sent by older widgets; ignored."},
            "decided_at": {"type": ["integer", "null"], "minimum": 0, "maximum": 10**14,
                           "description": "When the visitor decided, milliseconds since 1970 by their clock."},
            "links_receipt_id": {"anyOf": [UUID, {"type": "null"}]},
            "choices": {"type": "object", "minProperties": 1, "maxProperties": 30,
                        "propertyNames": PURPOSE_ID, "additionalProperties": {"type": "boolean"}},
            "policy_version": {"type": "string", "minLength": 1, "maxLength": 64},
            "language": {"enum": list(LANGUAGES)},
            "signals": {"type": "object", "additionalProperties": False,
                        "properties": {"dnt": {"type": "boolean"}, "gpc": {"type": "boolean"}}},
            "do_not_track": {"type": "boolean"},
            "collection_method": {"enum": ["banner", "preference_centre", "api", "link"]},
            "idempotency_key": {"anyOf": [TOKEN, {"type": "null"}]},
            "separate_consents": {"type": "array", "items": PURPOSE_ID, "maxItems": 30},
            "age_statement": {"enum": ["adult", "under_14", None]},
        },
    },
    "ConsentResult": {
        "type": "object",
        "required": ["receipt_id", "receipt", "signature", "jws", "receipt_token", "receipt_url"],
        "properties": {
            "receipt_id": {"type": "string"}, "receipt": _ref("Receipt"), "signature": {"type": "string"},
            "jws": _ref("ReceiptJws"), "receipt_token": {"type": "string"}, "receipt_url": {"type": "string"},
            "subject_verified": {"type": "boolean", "description": "The subject_id sent is bound to the decision."},
            "subject_problem": {"enum": [None, "subject_token_missing", "subject_token_invalid",
                                         "subject_token_expired"],
                                "description": "Why a subject_id sent was not bound (the decision is the visitor's)."},
        },
    },
    "VisitorProof": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "visitor_secret": {"anyOf": [VISITOR_SECRET, {"type": "null"}]},
            "subject_id": {"anyOf": [SUBJECT_ID, {"type": "null"}]},
            "subject_token": {"anyOf": [SUBJECT_TOKEN, {"type": "null"}]},
        },
    },
    "HistoryLink": {
        "type": "object",
        "required": ["history_url", "expires_in"],
        "properties": {"history_url": {"type": "string"}, "expires_in": {"type": "integer"}},
    },
    "SubjectDecision": {
        "type": "object",
        "required": ["decision"],
        "properties": {"decision": {"type": ["object", "null"], "required": [
            "policy_version", "choices", "do_not_track", "age_statement", "decided_at", "decided_at_ms",
            "receipt_id", "receipt_token"]}},
    },
    "ProblemType": {
        "type": "object",
        "required": ["type", "title", "action", "description"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                       "action": {"enum": ["retry", "ask_again", "drop"]}, "description": {"type": "string"}},
    },
    "ReceiptJws": {
        "type": ["string", "null"],
        "description": "Compact JWS (EdDSA, kid in the header) over the receipt's canonical JSON; verify it "
                       "offline with /.well-known/jwks.json. Null only for receipts stored before Ed25519 signing.",
    },
    "Receipt": {
        "description": "Kantara Consent Receipt v1.1 fields plus siteId, eventId, policyVersion, signals, ...",
        "type": "object",
        "required": ["version", "consentReceiptID", "consentTimestamp", "piiPrincipalId", "services", "siteId"],
        "properties": {
            "version": {"type": "string"}, "consentReceiptID": {"type": "string"},
            "consentTimestamp": {"type": "integer"}, "piiPrincipalId": {"type": "string"},
            "services": {"type": "array", "items": {"type": "object"}}, "siteId": {"type": "string"},
        },
    },
    "StoredReceipt": {
        "type": "object",
        "required": ["receipt_id", "receipt", "signature", "jws", "signature_valid"],
        "properties": {
            "receipt_id": {"type": "string"}, "receipt": _ref("Receipt"), "signature": {"type": "string"},
            "jws": _ref("ReceiptJws"), "signature_valid": {"type": "boolean"},
        },
    },
    "SiteConfig": {
        "type": "object",
        "required": ["site_id", "language", "name", "controller", "policy", "texts", "purposes", "age_gate", "strings"],
        "properties": {
            "site_id": {"type": "string"}, "language": {"enum": list(LANGUAGES)}, "name": {"type": "string"},
            "controller": {"type": "string"},
            "policy": {"type": "object", "required": ["version", "url", "changes", "archive_url"],
                       "properties": {"version": {"type": "string"}, "url": {"type": "string"},
                                      "changes": NULLABLE_STRING, "archive_url": {"type": "string"}}},
            "texts": {"type": "object", "required": ["title", "intro"],
                      "properties": {"title": {"type": "string"}, "intro": {"type": "string"}}},
            "purposes": {"type": "array", "items": _ref("WidgetPurpose")},
            "age_gate": {"type": "boolean"},
            "strings": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "WidgetPurpose": {
        "type": "object",
        "required": ["id", "kind", "required", "tracking", "sensitive", "title", "description", "recipients"],
        "properties": {
            "id": {"type": "string"}, "kind": {"enum": list(PURPOSE_KINDS)},
            "required": {"type": "boolean"}, "tracking": {"type": "boolean"}, "sensitive": {"type": "boolean"},
            "title": {"type": "string"}, "description": {"type": "string"},
            "recipients": {"type": "array", "items": {
                "type": "object", "required": ["name", "contact", "purpose", "country"],
                "properties": {"name": {"type": "string"}, "contact": {"type": "string"},
                               "purpose": {"type": "string"}, "country": NULLABLE_STRING}}},
        },
    },
    "PurposeDecision": {
        "type": "object",
        "required": ["granted", "verified", "receipt_id", "recorded_at", "decided_at", "separate_consent"],
        "properties": {
            "granted": {"type": "boolean"},
            "verified": {"type": "boolean",
                         "description": "A subject token bound the decision to the user; unverified never grants."},
            "decided_at": NULLABLE_STRING,
            "receipt_id": {"type": ["string", "null"],
                           "description": "The receipt proving the answer; null without a record."},
            "recorded_at": NULLABLE_STRING,
            "separate_consent": {"type": "boolean"},
        },
    },
    "SubjectConsents": {
        "type": "object",
        "required": ["site_id", "subject_id", "has_record", "verified", "policy_version", "current_policy_version",
                     "guardian_consent", "purposes"],
        "properties": {
            "site_id": {"type": "string"}, "subject_id": {"type": "string"}, "has_record": {"type": "boolean"},
            "verified": {"type": "boolean"},
            "policy_version": NULLABLE_STRING, "current_policy_version": {"type": "string"},
            "guardian_consent": {"enum": ["pending", None]},
            "purposes": {"type": "object", "additionalProperties": _ref("PurposeDecision")},
        },
    },
    "ConsentQuery": {
        "type": "object",
        "additionalProperties": False,
        "required": ["subjects", "purpose"],
        "properties": {
            "subjects": {"type": "array", "items": SUBJECT_ID, "minItems": 1, "maxItems": MAX_BATCH_SUBJECTS},
            "purpose": PURPOSE_ID,
        },
        "example": {"subjects": ["user-42", "user-43"], "purpose": "marketing_sms"},
    },
    "ConsentQueryResult": {
        "type": "object",
        "required": ["site_id", "purpose", "allowed", "results"],
        "properties": {
            "site_id": {"type": "string"}, "purpose": {"type": "string"},
            "allowed": {"type": "array", "items": {"type": "string"}},
            "results": {"type": "array", "items": {"allOf": [
                _ref("PurposeDecision"),
                {"type": "object", "required": ["subject_id"], "properties": {"subject_id": {"type": "string"}}},
            ]}},
        },
    },
    "Erasure": {
        "type": "object",
        "required": ["site_id", "erased", "requested_at"],
        "properties": {"site_id": {"type": "string"}, "erased": {"type": "boolean"},
                       "requested_at": {"type": "string"}},
    },
}


def _visitor_proof_route(summary, operation_id, answer, schema):
    """A widget endpoint that takes a VisitorProof from an allowed origin, with its CORS preflight."""
    return {
        "post": {
            "summary": summary,
            "operationId": operation_id,
            "parameters": [SITE_PARAMETER,
                           {"name": "Origin", "in": "header", "required": False, "schema": {"type": "string"}}],
            "requestBody": {"required": True, **_json(_ref("VisitorProof"))},
            "responses": {"200": {"description": answer, **_json(_ref(schema))}, **_problems(403, 404, 413, 422)},
        },
        "options": {"summary": "CORS preflight.", "operationId": f"{operation_id}Preflight",
                    "parameters": [SITE_PARAMETER],
                    "responses": {"204": {"description": "Allowed."}, **_problems(403)}},
    }


PATHS = {
    "/api/v1/openapi.json": {
        "get": {"summary": "This document.", "operationId": "openapi",
                "responses": {"200": {"description": "OpenAPI 3.1", **_json({"type": "object"})}}},
    },
    "/api/v1/consents": {
        "post": {
            "summary": "Record a visitor's decision (called by the widget from an allowed origin).",
            "operationId": "createConsent",
            "parameters": [{"name": "Origin", "in": "header", "required": False, "schema": {"type": "string"}}],
            "requestBody": {"required": True, **_json(_ref("ConsentRequest"))},
            "responses": {
                "201": {"description": "Recorded; the visitor's receipt.", **_json(_ref("ConsentResult"))},
                "200": {"description": "Repeated idempotency key: the first receipt.", **_json(_ref("ConsentResult"))},
                **_problems(403, 404, 409, 413, 422),
            },
        },
        "options": {
            "summary": "CORS preflight: answered for origins that embed some site.",
            "operationId": "consentPreflight",
            "responses": {"204": {"description": "Allowed."}, **_problems(403)},
        },
    },
    "/api/v1/sites/{site_id}/history-link": _visitor_proof_route(
        "A short-lived link to the visitor's own history, for their credential or subject token.",
        "historyLink", "The link.", "HistoryLink"),
    "/api/v1/sites/{site_id}/subject-decision": _visitor_proof_route(
        "A proven user's decision in force, so another device applies it instead of asking again.",
        "subjectDecision", "The decision, or null.", "SubjectDecision"),
    "/api/v1/problems/{slug}": {
        "get": {
            "summary": "What a problem type means and what a client should do about it.",
            "operationId": "problemType",
            "parameters": [{"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The problem type.", **_json(_ref("ProblemType"))},
                          **_problems(404)},
        },
    },
    "/api/v1/sites/{site_id}/config": {
        "get": {
            "summary": "What the widget needs to show a site's banner in one language.",
            "operationId": "siteConfig",
            "parameters": [SITE_PARAMETER,
                           {"name": "lang", "in": "query", "required": False, "schema": {"type": "string"}},
                           {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "The configuration, with an ETag; Cache-Control: no-cache.",
                        **_json(_ref("SiteConfig"))},
                "304": {"description": "Unchanged since the ETag sent in If-None-Match."},
                **_problems(404),
            },
        },
    },
    "/api/v1/receipts/{receipt_id}": {
        "get": {
            "summary": "A visitor's own receipt, opened with the token handed over with it.",
            "operationId": "getReceipt",
            "parameters": [
                {"name": "receipt_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "token", "in": "query", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {"200": {"description": "The receipt.", **_json(_ref("StoredReceipt"))},
                          **_problems(403, 404)},
        },
    },
    "/api/v1/sites/{site_id}/subjects/{subject_id}/consents": {
        "get": {
            "summary": "Site backend: the current decision on every purpose for one user, with its receipt.",
            "operationId": "subjectConsents",
            "security": SITE_KEY,
            "parameters": [SITE_PARAMETER, SUBJECT_PARAMETER],
            "responses": {"200": {"description": "Per purpose.", **_json(_ref("SubjectConsents"))},
                          **_problems(401, 403, 404, 422)},
        },
    },
    "/api/v1/sites/{site_id}/subjects/{subject_id}": {
        "delete": {
            "summary": "Site backend: erase a user; their events stay as proof, unlinked from their id.",
            "operationId": "eraseSubject",
            "security": SITE_KEY,
            "parameters": [SITE_PARAMETER, SUBJECT_PARAMETER],
            "responses": {"200": {"description": "Erased (or nothing to erase).", **_json(_ref("Erasure"))},
                          **_problems(401, 403, 404, 422)},
        },
    },
    "/api/v1/sites/{site_id}/consents/query": {
        "post": {
            "summary": f"Site backend: which of up to {MAX_BATCH_SUBJECTS} users granted a purpose.",
            "operationId": "queryConsents",
            "security": SITE_KEY,
            "parameters": [SITE_PARAMETER],
            "requestBody": {"required": True, **_json(_ref("ConsentQuery"))},
            "responses": {"200": {"description": "Decisions.", **_json(_ref("ConsentQueryResult"))},
                          **_problems(401, 403, 404, 413, 422)},
        },
    },
    **AUDIT_PATHS,
}


def document():
    """The OpenAPI document, as a dict ready for JSON."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Consent service API",
            "version": "1",
            "description": "Public endpoints for the widget and visitors; "
                           "site-backend endpoints need the site's API key.",
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"siteApiKey": {"type": "http", "scheme": "bearer",
                                               "description": "A site's API key (csk_...), from the console or "
                                                              "`flask consent apikey create`."},
                                "auditorToken": {"type": "http", "scheme": "bearer",
                                                 "description": "An auditor's API token, from "
                                                                "`flask consent auditor create`."}},
        },
    }
