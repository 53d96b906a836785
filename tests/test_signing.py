"""Ed25519 receipts: verifiable offline with only the JWKS, broken by any changed byte, across key rotation."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from consent.errors import SigningKeyMissing
from consent.ledger import signing
from consent.proof.verify import VerificationError, main, verify_receipt
from consent.storage import db

VERIFY_PY = Path(__file__).parent.parent / "consent" / "proof" / "verify.py"


@pytest.fixture
def recorded(consent):
    response = consent.post(**consent.user("user-7"), choices={"necessary": True, "analytics": True})
    assert response.status_code == 201
    return response.get_json()


def jwks_of(client):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200 and response.mimetype == "application/jwk-set+json"
    return response.get_json()


def test_receipt_verifies_offline_with_only_the_jwks(client, recorded, tmp_path):
    jwks = jwks_of(client)
    receipt, kid = verify_receipt(recorded, jwks)
    assert receipt == recorded["receipt"] and [key["kid"] for key in jwks["keys"]] == [kid]
    assert set(jwks["keys"][0]) == {"kty", "crv", "x", "kid", "alg", "use"}  # public parts only
    # The verifier as a lone file, in a directory with nothing else, under isolated mode (-I):
    # no project code, no Flask, no database; only the standard library and `cryptography`.
    lone = tmp_path / "verify.py"
    lone.write_text(VERIFY_PY.read_text())
    (tmp_path / "receipt.json").write_text(json.dumps(recorded))
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    run = subprocess.run(
        [sys.executable, "-I", "-c",
         "import runpy, sys; sys.argv = ['verify.py', 'receipt.json', '--jwks', 'jwks.json'];"
         "code = 0\ntry: runpy.run_path('verify.py', run_name='__main__')\n"
         "except SystemExit as exit: code = exit.code\n"
         "assert not {'flask', 'sqlalchemy', 'consent'} & set(sys.modules), sorted(sys.modules)\nsys.exit(code)"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith(f"VALID: receipt {recorded['receipt_id']} of site shop") and kid in run.stdout


def test_module_entry_point_and_both_input_shapes(client, recorded, tmp_path):
    (tmp_path / "jwks.json").write_text(json.dumps(jwks_of(client)))
    (tmp_path / "full.json").write_text(json.dumps(recorded))
    (tmp_path / "pair.json").write_text(json.dumps({"receipt": recorded["receipt"], "jws": recorded["jws"]}))
    forged = {**recorded, "receipt": {**recorded["receipt"], "doNotTrack": True}}
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    for name, status, verdict in (("full.json", 0, "VALID"), ("pair.json", 0, "VALID"), ("forged.json", 1, "INVALID")):
        run = subprocess.run([sys.executable, "-m", "consent.proof.verify", name, "--jwks", "jwks.json"], cwd=tmp_path,
                             capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(VERIFY_PY.parents[2])})
        assert run.returncode == status and run.stdout.startswith(verdict + ":"), run.stdout + run.stderr


def test_changing_any_byte_fails(client, recorded, tmp_path):
    """Every byte of the signed receipt file, changed in turn, makes it fail (in-process: thousands of cases)."""
    jwks = jwks_of(client)
    original = json.dumps({"receipt": recorded["receipt"], "jws": recorded["jws"]},
                          ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    verify_receipt(json.loads(original), jwks)
    accepted = []
    for position in range(len(original)):
        tampered = bytearray(original)
        tampered[position] ^= 0x01
        try:
            verify_receipt(json.loads(bytes(tampered).decode("utf-8")), jwks)
        except (VerificationError, ValueError):
            continue
        accepted.append((position, original[max(0, position - 20):position + 20]))
    assert accepted == [], f"{len(accepted)} changed bytes still verified: {accepted[:3]}"
    assert len(original) > 2000


@pytest.mark.parametrize(
    ("what", "change", "message"),
    [
        ("no JWS", lambda d: {"receipt": d["receipt"]}, "holds no"),
        ("JWS of another receipt", lambda d: {**d, "receipt": {**d["receipt"], "language": "en"}}, "other content"),
        ("alg none", lambda d: {**d, "jws": "eyJhbGciOiJub25lIn0." + d["jws"].split(".")[1] + "."}, "EdDSA"),
        ("unknown key", lambda d: {**d, "jws": "eyJhbGciOiJFZERTQSIsImtpZCI6Im5vcGUifQ." + d["jws"].split(".", 1)[1]},
         "No key 'nope'"),
        ("two parts", lambda d: {**d, "jws": d["jws"].rsplit(".", 1)[0]}, "compact form"),
        ("not an object", lambda d: [d], "holds no"),
    ],
)
def test_verifier_names_what_is_wrong(client, recorded, what, change, message):
    with pytest.raises(VerificationError, match=message):
        verify_receipt(change(recorded), jwks_of(client))


def test_verifier_exit_status_for_unreadable_files(tmp_path, capsys):
    (tmp_path / "broken.json").write_text("{not json")
    assert main([str(tmp_path / "broken.json"), "--jwks", str(tmp_path / "missing.json")]) == 1
    assert capsys.readouterr().out.startswith("INVALID: ")


def test_rotated_key_still_verifies_old_receipts(app, client, consent, recorded):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["consent", "keys", "rotate"])
    assert result.exit_code == 0, result.output
    newer = consent.post().get_json()
    jwks = jwks_of(client)
    assert len(jwks["keys"]) == 2
    old_kid, new_kid = verify_receipt(recorded, jwks)[1], verify_receipt(newer, jwks)[1]
    assert old_kid != new_kid and jwks["keys"][0]["kid"] == new_kid  # newest first
    listing = runner.invoke(args=["consent", "keys", "list"]).output
    assert f"{old_kid}\t" in listing and "retired" in listing and "active" in listing
    # The API still vouches for the old receipt too.
    fetched = client.get(f"/api/v1/receipts/{recorded['receipt_id']}",
                         query_string={"token": recorded["receipt_token"]})
    assert fetched.get_json()["jws"] == recorded["jws"]


def test_private_keys_stay_out_of_the_database_in_owner_only_files(app, recorded):
    key_dir = Path(app.config["CONSENT_KEY_DIR"])
    [key_file] = key_dir.iterdir()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert b"PRIVATE KEY" in key_file.read_bytes()
    with app.app_context():
        jwks = signing.jwks(db.get_session())
    assert key_file.name == f"{jwks['keys'][0]['kid']}.pem"


def test_worker_switches_to_the_key_another_process_rotated_in_within_the_recheck_time(
        app, consent, recorded, database_url, monkeypatch):
    from tests.conftest import make_app

    clock = [0.0]
    monkeypatch.setattr(signing, "monotonic", lambda: clock[0])
    app.extensions.pop("consent.signing", None)  # this worker learns its key at time 0
    kid_of = lambda result: result["jws"].split(".")[0]  # noqa: E731 - the header names the kid
    known = kid_of(consent.post().get_json())
    # Another worker process: same database and key dir, its own cache.
    other_worker = make_app(database_url, CONSENT_KEY_DIR=app.config["CONSENT_KEY_DIR"])
    assert other_worker.test_cli_runner().invoke(args=["consent", "keys", "rotate"]).exit_code == 0
    db.dispose(other_worker)
    # Within the recheck time this worker still signs with the key it knows, which still verifies.
    clock[0] = app.config["CONSENT_KEY_RECHECK_SECONDS"] - 0.01
    meanwhile = consent.post().get_json()
    assert kid_of(meanwhile) == known
    verify_receipt(meanwhile, jwks_of(app.test_client()))
    clock[0] = app.config["CONSENT_KEY_RECHECK_SECONDS"]
    assert kid_of(consent.post().get_json()) != known


def test_missing_private_key_is_a_clear_error(app, consent, recorded):
    for key_file in Path(app.config["CONSENT_KEY_DIR"]).iterdir():
        key_file.unlink()
    app.extensions.pop("consent.signing", None)  # a fresh worker, nothing cached
    response = consent.post()
    assert response.status_code == 500 and "private key" in response.get_json()["detail"]
    assert response.get_json()["title"] == SigningKeyMissing.title
    assert len(consent.stored_events()) == 1  # nothing half-written
