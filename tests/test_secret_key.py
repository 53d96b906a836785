"""Weak keys are refused in production (issue 12, finding 9): anything that is not debug or testing
stops at startup on a short, patterned or placeholder SECRET_KEY (or fallback), saying how to make a
good one; the key generated into the instance folder, the test server's and the benchmarks' are strong."""
import secrets
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from consent import config, create_app
from consent.http import security
from tests import server

WEAK_KEYS = [
    ("one letter", "a"),
    ("the tests' key", "test-secret"),
    ("a placeholder, shouted and padded", "  CHANGE-ME  "),
    ("31 random characters", secrets.token_urlsafe(48)[:31]),
    ("long but one character", "x" * 64),
    ("long but a short pattern", "abc123" * 8),
    ("bytes, short", b"short"),
]
STRONG_KEYS = [
    ("token_urlsafe(48)", secrets.token_urlsafe(48)),
    ("openssl rand -hex 32", secrets.token_hex(32)),
    ("bytes", secrets.token_bytes(32).hex().encode()),
]


def production_app(tmp_path, **settings):
    """An app as `gunicorn app:app` builds it: neither TESTING nor DEBUG."""
    return create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'consent.sqlite3'}",
                       "CONSENT_KEY_DIR": str(tmp_path / "keys"), **settings})


@pytest.mark.parametrize(("what", "key"), WEAK_KEYS, ids=[what for what, _ in WEAK_KEYS])
def test_production_refuses_a_weak_secret_key_and_says_how_to_make_one(tmp_path, what, key):
    with pytest.raises(security.WeakSecretKey) as refusal:
        production_app(tmp_path, SECRET_KEY=key)
    message = str(refusal.value)
    assert message.startswith("Refusing to start: SECRET_KEY ") and "secrets.token_urlsafe(48)" in message
    if len(key) > 3:
        assert str(key).strip() not in message  # the key itself never goes into a log


def test_production_refuses_a_weak_fallback_key(tmp_path):
    with pytest.raises(security.WeakSecretKey, match=r"SECRET_KEY_FALLBACKS\[1\]"):
        production_app(tmp_path, SECRET_KEY=secrets.token_urlsafe(48),
                       SECRET_KEY_FALLBACKS=[secrets.token_urlsafe(48), "old"])


def test_production_refuses_a_weak_key_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "dev")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'consent.sqlite3'}")
    with pytest.raises(security.WeakSecretKey):
        create_app()


@pytest.mark.parametrize(("what", "key"), STRONG_KEYS, ids=[what for what, _ in STRONG_KEYS])
def test_production_starts_with_a_strong_key(tmp_path, what, key):
    assert production_app(tmp_path, SECRET_KEY=key).config["SECRET_KEY"] == key


@pytest.mark.parametrize("mode", [{"TESTING": True}, {"DEBUG": True}])
def test_debug_and_testing_are_not_production(tmp_path, mode):
    app = production_app(tmp_path, SECRET_KEY="dev", **mode)
    assert not security.is_production(app)


def test_the_generated_instance_key_is_strong(tmp_path):
    instance = SimpleNamespace(instance_path=str(tmp_path), config={"DATABASE_URL": "sqlite://"})
    config.fill_instance_defaults(instance)
    key = instance.config["SECRET_KEY"]
    assert key == (tmp_path / "secret_key").read_text().strip() and security.secret_key_weakness(key) is None


def test_the_test_server_and_the_benchmarks_use_strong_keys(monkeypatch):
    assert security.secret_key_weakness(server.GunicornServer("sqlite://").env["SECRET_KEY"]) is None
    monkeypatch.syspath_prepend(str(Path(server.PROJECT_ROOT) / "bench"))
    monkeypatch.delitem(sys.modules, "common", raising=False)
    import common  # bench/common.py, as the benchmarks import it

    assert security.secret_key_weakness(common.SECRET_KEY) is None
