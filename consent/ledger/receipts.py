"""Consent receipts: built in the Kantara Consent Receipt v1.1 shape, signed with an HMAC under SECRET_KEY.

Two keys, because they mean two different things: one vouches for a receipt's content (sign_receipt),
the other lets a visitor fetch their own receipt by id without an account (access_token).
"""
import hashlib
import hmac
import json
from urllib.parse import quote

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import bindparam, select

from consent import clock
from consent.config import derived_hmac
from consent.errors import Forbidden, NotFound
from consent.http.links import public_url
from consent.proof.verify import canonical_json
from consent.sites import controller, cookie_declarations
from consent.sites import purposes as meaning
from consent.sites.vocabulary import CONSENT, LEGAL_BASES
from consent.storage.models import RECEIPTS, SIGNATURES, PolicyVersion

RECEIPT_VERSION = "KI-CR-v1.1.0"
SIGNATURE_SALT = "consent.receipt.signature"
ACCESS_SALT = "consent.receipt.access.v2"  # v2: timed; v1 tokens never expired and are refused
HISTORY_SALT = "consent.history"
# What an archived policy version shows a visitor, all of it: the hash receipts pin covers these.
POLICY_FIELDS = ("version", "url", "text", "changes", "texts", "purposes")


def principal_id(subject_ref, visitor_ref):
    """A receipt's piiPrincipalId: the user's pseudonym when a user is bound, else the visitor's reference."""
    return f"subject:{subject_ref}" if subject_ref else f"visitor:{visitor_ref}"


def policy_text_hash(policy):
    """SHA-256 (hex) of a policy version exactly as archived and shown (a consent.storage.models.PolicyVersion).

    The effective date counts only when the version states one: the hash of a version without it, which
    receipts already pin, stays what it was.
    """
    shown = {field: getattr(policy, field) for field in POLICY_FIELDS}
    if policy.effective_date:
        shown["effective_date"] = policy.effective_date.isoformat()
    return hashlib.sha256(canonical_json(shown).encode()).hexdigest()


def _keys():
    # Sign with the newest key; accept the fallbacks too, so rotating the secret keeps old receipts valid.
    return [*(current_app.config.get("SECRET_KEY_FALLBACKS") or []), current_app.config["SECRET_KEY"]]


def _serializer(salt):
    return URLSafeSerializer(_keys(), salt=salt)


def _timed_serializer(salt):
    # Built once per worker, salt and keys: building one costs more than signing with it.
    cache, keys = current_app.extensions.setdefault("consent.timed_serializers", {}), tuple(_keys())
    if (salt, keys) not in cache:
        cache[salt, keys] = URLSafeTimedSerializer(list(keys), salt=salt)
    return cache[salt, keys]


def timed_token(salt, payload):
    """A token for a visitor's link, good for the lifetime its reader gives (read_timed_token)."""
    return _timed_serializer(salt).dumps(payload)


def read_timed_token(salt, token, max_age, what):
    """The payload of a timed token; Forbidden, saying which, for an expired or forged one."""
    try:
        return _timed_serializer(salt).loads(token or "", max_age=max_age)
    except SignatureExpired as error:  # before BadSignature, of which it is a kind
        raise Forbidden(f"This {what} has expired; open it again from the site's privacy settings.") from error
    except BadSignature as error:
        raise Forbidden(f"The {what} is not valid.") from error


def build_receipt(site, policy, event):
    """The receipt for one consent event (a dict as stored in the event document)."""
    return receipt_and_text(site, policy, event)[0]


def receipt_and_text(site, policy, event):
    """The receipt for one consent event and its canonical JSON, the text stored and signed.

    Equal to (receipt, canonical_json(receipt)), but the purposes, most of a receipt, are spliced in as text
    made once per worker: encoding them anew was most of a decision's JSON work (issue 18).
    """
    choices = event["choices"]
    # Events recorded before decisions had a lifetime hold no expiry; their receipts state none
    # (tests build such receipts to stand for them).
    expires_at = event.get("expires_at")
    processed = [purpose for purpose in policy.purposes if choices[purpose["id"]]]
    separate = set(event["separate_consents"])
    shown = [variants.receipted(choices[variants.purpose_id], variants.purpose_id in separate)
             for variants in _shown_purposes(site, policy, event["language"], bool(expires_at))]
    service_name = site.name[event["language"]]
    rest = {
        **receipt_header(site, policy, event),
        # Sensitive when sensitive information is processed: a granted purpose, or one on another legal basis.
        "sensitive": any(meaning.is_sensitive(purpose) for purpose in processed),
        "spiCat": sorted({category for purpose in processed for category in purpose.get("sensitive_categories", ())}),
        **receipt_extensions(site, policy, event),
    }
    receipt = {**rest, "services": [{"service": service_name, "purposes": [purpose for purpose, _text in shown]}]}
    services_text = (f'[{{"purposes":[{",".join(text for _purpose, text in shown)}],'
                     f'"service":{canonical_json(service_name)}}}]')
    return receipt, canonical_with_member(rest, "services", services_text)


def canonical_with_member(document, key, value_text):
    """canonical_json of `document` with `key` added, its value given as its canonical JSON already."""
    # canonical_json sorts an object's members by key, as str compares them: the new one goes between.
    before = canonical_json({name: value for name, value in document.items() if name < key})
    after = canonical_json({name: value for name, value in document.items() if name > key})
    members = (before[1:-1], f"{canonical_json(key)}:{value_text}", after[1:-1])
    return "{" + ",".join(member for member in members if member) + "}"


class _PurposeVariants:
    """What a receipt states of one purpose under one published version (never changed) in one language, in
    each form a decision can give it: the visitor's choice and whether it was a separate consent vary."""

    def __init__(self, shown):
        self.shown, self.purpose_id, self._made = shown, shown["purposeId"], {}

    def receipted(self, given, separately):
        """(the purpose as receipted, its canonical JSON) for this choice: both shared, never to be changed."""
        key = (given, separately)
        if key not in self._made:
            purpose = {**self.shown, "consentGiven": given if self.shown["legalBasis"] == CONSENT else None,
                       "separateConsent": separately}
            self._made[key] = (purpose, canonical_json(purpose))
        return self._made[key]


def _shown_purposes(site, policy, language, expires):
    """The _PurposeVariants of every purpose a receipt states, refused ones included: built once per worker."""
    cache = current_app.extensions.setdefault("consent.receipt_purposes", {})
    key = (site.id, policy.version, language, expires)
    if key not in cache:
        termination = "Until withdrawn by the PII principal or until the policy version changes"
        if expires:
            termination = "Until withdrawn by the PII principal, until the policy version changes, or until expiresAt"
        cache[key] = [_PurposeVariants(receipt_purpose(purpose, language, termination))
                      for purpose in policy.purposes]
    return cache[key]


def receipt_purpose(purpose, language, termination):
    """One purpose of a receipt, refused ones included (the receipt proves the refusal too), but for the choice.

    A purpose on another legal basis than consent says so in consentType, with consentGiven null: it
    was never a choice, so it is never receipted as consent.
    """
    basis = meaning.legal_basis(purpose)
    by_consent = basis == CONSENT
    return {
        "purpose": purpose["title"][language],
        "purposeId": purpose["id"],
        "purposeCategory": meaning.tags(purpose),
        "consentType": "EXPLICIT" if by_consent else basis.upper(),
        "legalBasis": basis,
        "piiCategory": purpose.get("pi_categories", []),
        "primaryPurpose": purpose["required"],
        "termination": termination if by_consent else "Not based on consent: processed as long as its legal basis "
                                                      "lasts (see retention)",
        **({"retention": purpose["retention"][language]} if "retention" in purpose else {}),
        "thirdPartyDisclosure": bool(purpose["recipients"]),
        "thirdPartyName": [recipient["name"][language] for recipient in purpose["recipients"]],
        "thirdParties": [receipt_recipient(recipient, language) for recipient in purpose["recipients"]],
        "sensitive": meaning.is_sensitive(purpose),
        "separateConsentGrounds": meaning.separate_grounds(purpose),
        **({"requires": meaning.requirements(purpose)} if meaning.requirements(purpose) else {}),
        **({"cookies": [cookie_declarations.declared_name(cookie) for cookie in purpose["cookies"]]}
           if purpose["cookies"] else {}),
    }


def receipt_recipient(recipient, language):
    return {
        "name": recipient["name"][language],
        "contact": recipient["contact"],
        **{key: recipient[key] for key in ("role", "country", "data") if key in recipient},
    }


def receipt_header(site, policy, event):
    """Kantara v1.1's fields before the services: who decided, when, how, and who the controller is."""
    return {
        "version": RECEIPT_VERSION,
        "jurisdiction": site.jurisdiction,
        "consentTimestamp": event["timestamp"],
        "collectionMethod": f"consent.js {event['collection_method']}",
        "consentReceiptID": event["receipt_id"],
        "language": event["language"],
        "piiPrincipalId": event["principal"],
        "principalIdentifiedBy": event["identified_by"],
        "subjectTokenKeyId": event["subject_token_kid"],
        "piiControllers": [
            {**controller.for_receipt(site.controller, event["language"]), "piiControllerUrl": policy.url}
        ],
        "policyUrl": policy.url,
    }


def _archive_url(site_id, version):
    """Where a published version is archived, built once per worker (url_for costs more than the rest of a receipt)."""
    cache = current_app.extensions.setdefault("consent.archive_urls", {})
    if (site_id, version) not in cache:
        cache[site_id, version] = public_url("widget.policy_version", site_id=site_id, version=version)
    return cache[site_id, version]


def receipt_extensions(site, policy, event):
    """What a receipt holds beyond Kantara v1.1, needed to prove what was shown and how the visitor chose."""
    expires_at = event.get("expires_at")
    return {
        "siteId": site.id,
        "eventId": event["event_id"],
        "policyVersion": policy.version,
        "policyArchiveUrl": _archive_url(site.id, policy.version),
        "policyTextHash": event["policy_text_hash"],
        **({"policyEffectiveDate": policy.effective_date.isoformat()} if policy.effective_date else {}),
        "signals": event["signals"],
        "doNotTrack": event["do_not_track"],
        "ageStatement": event["age_statement"],
        "guardianConsent": event["guardian_consent"],
        # Since age thresholds: the site's threshold when an age statement was made, and who asserted
        # that the guardian deciding is the minor's guardian (the site's backend, for a guardian's decision).
        **({"ageThreshold": event["age_threshold"]} if event.get("age_threshold") else {}),
        **({"guardianAssertedBy": event["guardian_asserted_by"]} if event.get("guardian_asserted_by") else {}),
        "decidedAt": event["decided_at"],
        "linkedReceiptId": event["linked_receipt_id"],
        # When the decision stops counting and the visitor is asked again (consent/ledger/lifetime.py).
        **({"expiresAt": expires_at} if expires_at else {}),
    }


# Receipts signed since issue 18 carry a detached MAC: "v2." and the hex HMAC-SHA256, under a key derived from
# SECRET_KEY for this one use (config.derived_hmac), of the receipt's canonical JSON: the text stored, and signed
# by Ed25519 too.
# Older ones are itsdangerous tokens embedding the whole receipt, zlib-compressed (HMAC-SHA1, SIGNATURE_SALT),
# which stay verifiable: their payload is base64url JSON, so they never start with "v2.".
MAC_PREFIX = "v2."
MAC_PURPOSE = b"consent.receipt.mac.v2"


def sign_receipt(receipt_text):
    """The HMAC signature of a receipt, given as its canonical JSON (the text stored and signed by Ed25519)."""
    return MAC_PREFIX + derived_hmac(current_app.config["SECRET_KEY"], MAC_PURPOSE, receipt_text)


def hmac_signature_valid(signature, document):
    """Whether `signature` vouches for exactly `document`; False, not an error, for a forged one."""
    return hmac_signature_checker()(signature, document)


def hmac_signature_checker():
    """hmac_signature_valid, with the keys read once: for checking many receipts in a row."""
    keys = _keys()
    serializer = _serializer(SIGNATURE_SALT)

    def valid(signature, document):
        if not isinstance(signature, str):
            return False
        if signature.startswith(MAC_PREFIX):
            text = canonical_json(document)
            given = signature[len(MAC_PREFIX):]
            # As bytes: compare_digest refuses a str with characters beyond ASCII, which a forger may send.
            return any(hmac.compare_digest(given.encode(), derived_hmac(key, MAC_PURPOSE, text).encode())
                       for key in keys)
        try:
            return serializer.loads(signature) == document  # a receipt signed before issue 18
        except BadSignature:
            return False

    return valid


# Receipt tokens issued since issue 18: "v3.", the time issued (Unix seconds), ".", and the hex HMAC-SHA256 of
# "receipt id.time" under a key derived from SECRET_KEY for this one use. The receipt id is in the URL beside
# the token, so the token need not carry it. Older tokens are itsdangerous timed tokens (ACCESS_SALT), which
# stay valid for their lifetime: they never start with "v3.".
ACCESS_PREFIX = "v3."
ACCESS_PURPOSE = b"consent.receipt.access.v3"
CLOCK_SKEW_SECONDS = 300  # a token issued by a host whose clock is this far ahead of ours is still ours


def access_token(receipt_id):
    """The visitor's key to one receipt (and nothing else), valid CONSENT_RECEIPT_TOKEN_MAX_AGE_SECONDS."""
    issued = int(clock.now().timestamp())
    return f"{ACCESS_PREFIX}{issued}.{_access_mac(current_app.config['SECRET_KEY'], receipt_id, issued)}"


def _access_mac(key, receipt_id, issued):
    return derived_hmac(key, ACCESS_PURPOSE, f"{receipt_id}.{issued}")


def _access_mac_valid(receipt_id, issued, given):
    if not (issued.isascii() and issued.isdigit() and len(issued) <= 12 and given.isascii()):
        return False
    return any(hmac.compare_digest(given.encode(), _access_mac(key, receipt_id, int(issued)).encode())
               for key in _keys())


def check_access_token(receipt_id, token):
    """Refuse unless `token` was issued by us for exactly this receipt, and not too long ago."""
    max_age = current_app.config["CONSENT_RECEIPT_TOKEN_MAX_AGE_SECONDS"]
    if not (token or "").startswith(ACCESS_PREFIX):
        if read_timed_token(ACCESS_SALT, token, max_age, "receipt token") != receipt_id:
            raise Forbidden("The receipt token is for another receipt.")
        return
    issued, _, given = token[len(ACCESS_PREFIX):].partition(".")
    if not _access_mac_valid(receipt_id, issued, given):  # a token for another receipt too: its MAC is over its id
        raise Forbidden("The receipt token is not valid.")
    age = clock.now().timestamp() - int(issued)
    if age > max_age or age < -CLOCK_SKEW_SECONDS:
        raise Forbidden("This receipt token has expired; open it again from the site's privacy settings.")


def receipt_url(receipt_id, token):
    """Where a visitor opens their receipt with its token: public_url of api.get_receipt, from a prefix built
    once per worker (url_for was 3% of a decision's CPU, issue 18)."""
    cache = current_app.extensions.setdefault("consent.receipt_url", {})
    if "prefix" not in cache:
        cache["prefix"] = public_url("api.get_receipt", receipt_id="-").removesuffix("-")
    return f"{cache['prefix']}{quote(receipt_id, safe='')}?token={quote(token, safe='')}"


# A receipt with its Ed25519 signature (None before Ed25519 signing existed), in one query on the
# plain tables; built once.
RECEIPT_WITH_JWS = (
    select(RECEIPTS.c.receipt_id, RECEIPTS.c.document, RECEIPTS.c.hmac_signature, SIGNATURES.c.jws)
    .outerjoin(SIGNATURES, SIGNATURES.c.receipt_id == RECEIPTS.c.receipt_id)
)
VISITORS_RECEIPT = RECEIPT_WITH_JWS.where(RECEIPTS.c.receipt_id == bindparam("receipt_id"))


def open_receipt(session, receipt_id, token):
    """A visitor's own receipt, opened with the access token they were given when they decided.

    Returns {receipt_id, receipt, signature, jws, signature_valid}; Forbidden for a wrong token,
    NotFound for a receipt that does not exist.
    """
    check_access_token(receipt_id, token)
    receipt = session.execute(VISITORS_RECEIPT, {"receipt_id": receipt_id}).first()
    if receipt is None:
        raise NotFound("No such receipt.")
    document = json.loads(receipt.document)
    return receipt_result(receipt.receipt_id, document, receipt.hmac_signature, receipt.jws,
                          signature_valid=hmac_signature_valid(receipt.hmac_signature, document))


def receipt_result(receipt_id, document, signature, jws, **more):
    """A receipt as every API answers it: the document, its HMAC signature and its JWS (None for receipts
    stored before Ed25519 signing existed), then what this answer adds (`more`)."""
    return {"receipt_id": receipt_id, "receipt": document, "signature": signature, "jws": jws, **more}


def purposes_for_page(session, receipt, language):
    """The receipt's purposes with titles in `language`, from the policy version it was given under."""
    policy = session.get(PolicyVersion, (receipt["siteId"], receipt["policyVersion"]))
    titles = {purpose["id"]: purpose["title"][language] for purpose in policy.purposes} if policy else {}
    return [
        {**purpose, "title": titles.get(purpose["purposeId"], purpose["purpose"]),
         # Why a purpose that is no choice is processed, in the page's language (receipts since issue 15).
         "basis_label": (str(LEGAL_BASES[purpose["legalBasis"]])
                         if purpose.get("legalBasis", CONSENT) != CONSENT else None)}
        for service in receipt["services"]
        for purpose in service["purposes"]
    ]
