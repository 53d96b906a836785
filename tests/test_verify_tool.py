"""The offline verifier reads one meaning only, and shows the auditor what was signed (issue 12, finding 7)."""
import json

import pytest

from consent.proof.verify import b64url_decode, main

DUPLICATE = "__duplicate__"


@pytest.fixture
def recorded(consent):
    response = consent.post(choices={"necessary": True, "analytics": True})  # marketing_sms refused
    assert response.status_code == 201
    return response.get_json()


@pytest.fixture
def jwks(client):
    return client.get("/.well-known/jwks.json").get_json()


def run(tmp_path, capsys, receipt_text, jwks_text):
    (tmp_path / "receipt.json").write_text(receipt_text, encoding="utf-8")
    (tmp_path / "jwks.json").write_text(jwks_text, encoding="utf-8")
    status = main([str(tmp_path / "receipt.json"), "--jwks", str(tmp_path / "jwks.json")])
    return status, capsys.readouterr().out


def with_consent_given_twice(recorded, purpose_id):
    """The file as a forger writes it: the purpose reads `consentGiven: true`, then repeats the key with the
    signed value, which is the one Python's parser keeps."""
    receipt = json.loads(json.dumps(recorded["receipt"]))
    purpose = next(p for p in receipt["services"][0]["purposes"] if p["purposeId"] == purpose_id)
    signed_value, purpose["consentGiven"] = purpose["consentGiven"], DUPLICATE
    text = json.dumps({**recorded, "receipt": receipt}, indent=2, ensure_ascii=False)
    both = f'"consentGiven": true, "consentGiven": {json.dumps(signed_value)}'
    return text.replace(f'"consentGiven": "{DUPLICATE}"', both)


def test_finding_7_a_receipt_with_a_duplicate_key_is_invalid(tmp_path, capsys, recorded, jwks):
    forged = with_consent_given_twice(recorded, "marketing_sms")
    assert '"consentGiven": true, "consentGiven": false' in forged  # what an auditor reading the file sees first
    status, out = run(tmp_path, capsys, forged, json.dumps(jwks))
    assert status == 1 and out.startswith("INVALID: ")
    assert "'consentGiven' appears twice" in out and "VALID" not in out.removeprefix("INVALID")


@pytest.mark.parametrize(
    ("what", "change_receipt", "change_jwks", "message"),
    [
        ("a top-level key twice", lambda text: text.replace('"jws": ', '"jws": "x", "jws": ', 1), None,
         "'jws' appears twice"),
        ("a key of the key set twice", None, lambda text: text.replace('"x": ', '"x": "AAAA", "x": ', 1),
         "'x' appears twice"),
        ("one key id twice in the key set", None,
         lambda text: json.dumps({"keys": json.loads(text)["keys"] * 2}), "lists key"),
        ("NaN in the receipt", lambda text: text.replace('"consentTimestamp": ', '"consentTimestamp": NaN, "x": ', 1),
         None, "NaN is not a JSON value"),
    ],
)
def test_ambiguous_files_are_invalid(tmp_path, capsys, recorded, jwks, what, change_receipt, change_jwks, message):
    receipt_text, jwks_text = json.dumps(recorded), json.dumps(jwks)
    status, out = run(tmp_path, capsys, (change_receipt or str)(receipt_text), (change_jwks or str)(jwks_text))
    assert status == 1 and out.startswith("INVALID: ") and message in out, out


def test_finding_7_the_verifier_prints_the_signed_payload(tmp_path, capsys, recorded, jwks):
    # The file's receipt in another key order and layout: still the same content, so valid.
    shuffled = {**recorded, "receipt": dict(reversed(list(recorded["receipt"].items())))}
    status, out = run(tmp_path, capsys, json.dumps(shuffled, indent=4), json.dumps(jwks))
    verdict, heading, printed = out.split("\n", 2)
    assert status == 0 and verdict.startswith(f"VALID: receipt {recorded['receipt_id']} of site shop")
    assert "signed payload" in heading
    signed = json.loads(b64url_decode(recorded["jws"].split(".")[1]))
    assert json.loads(printed) == signed == recorded["receipt"]
    assert printed.strip() == json.dumps(signed, indent=2, ensure_ascii=False)  # in the signed order, readable


def test_a_file_that_differs_from_the_signed_payload_is_invalid(tmp_path, capsys, recorded, jwks):
    changed = json.loads(json.dumps(recorded))
    changed["receipt"]["services"][0]["purposes"][3]["consentGiven"] = True
    status, out = run(tmp_path, capsys, json.dumps(changed), json.dumps(jwks))
    assert status == 1 and out.startswith("INVALID: The signature is valid, but for other content")
