"""Configuration: every setting can come from the environment, and a bad value is a sentence, not a traceback."""
import pytest

from consent import config

# A value of the right type for each setting, unlike its default (booleans: the opposite of theirs).
CHANGED = {int: ("7", 7), float: ("2.5", 2.5)}


@pytest.mark.parametrize("name", sorted(config.defaults()))
def test_every_setting_can_come_from_the_environment(monkeypatch, name):
    default = config.defaults()[name]
    text, expected = CHANGED.get(type(default), ("from-the-environment", "from-the-environment"))
    if isinstance(default, bool):
        text, expected = ("false", False) if default else ("true", True)
    monkeypatch.setenv(name, text)
    assert config.from_environment()[name] == expected


def test_settings_once_missing_from_the_environment_are_read(monkeypatch):
    monkeypatch.setenv("CONSENT_MAX_BODY_BYTES", "4096")
    monkeypatch.setenv("WEBHOOK_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "2")
    read = config.from_environment()
    names = ("CONSENT_MAX_BODY_BYTES", "WEBHOOK_MAX_ATTEMPTS", "WEBHOOK_TIMEOUT_SECONDS")
    assert [read[name] for name in names] == [4096, 3, 2]


@pytest.mark.parametrize(("name", "text"), [("CONSENT_MAX_BODY_BYTES", "16k"), ("CONSENT_KEY_RECHECK_SECONDS", "soon"),
                                            ("WEBHOOK_MAX_ATTEMPTS", "1.5")])
def test_a_value_of_the_wrong_type_is_refused_in_a_sentence(monkeypatch, name, text):
    monkeypatch.setenv(name, text)
    with pytest.raises(RuntimeError, match=f"{name}='{text}'"):
        config.from_environment()


@pytest.mark.parametrize("text", ["ture", "enabled", "2", "nein"])
def test_a_flag_that_says_neither_yes_nor_no_is_refused(monkeypatch, text):
    """RATELIMIT_ENABLED=ture used to turn rate limits off without a word: a typo is a sentence now."""
    monkeypatch.setenv("RATELIMIT_ENABLED", text)
    with pytest.raises(RuntimeError, match=f"RATELIMIT_ENABLED='{text}', which is not true or false"):
        config.from_environment()


@pytest.mark.parametrize(("text", "expected"), [("1", True), ("Yes", True), ("on", True), ("0", False),
                                                ("no", False), ("OFF", False), (" false ", False)])
def test_a_flag_reads_the_usual_spellings(monkeypatch, text, expected):
    monkeypatch.setenv("CONSENT_REQUEST_LOG", text)
    assert config.from_environment()["CONSENT_REQUEST_LOG"] is expected


def test_each_server_can_have_an_instance_folder_of_its_own(monkeypatch, tmp_path):
    """Two servers run from one checkout (the hosts of tests/test_multi_host.py) must not share the project's
    instance/: each would append the checkpoints it signs to the other's file. CONSENT_INSTANCE_PATH moves
    everything the folder holds, a relative path taken from the working directory."""
    from consent import create_app
    from consent.ledger import checkpoints, signing
    from consent.storage import db

    for name in ("DATABASE_URL", "SECRET_KEY", "CONSENT_KEY_DIR", "CONSENT_CHECKPOINT_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONSENT_INSTANCE_PATH", "host-a")
    app = create_app({"TESTING": True})
    folder = tmp_path / "host-a"
    with app.app_context():
        assert (app.instance_path, checkpoints.checkpoint_file()) == (str(folder), folder / "checkpoints.jsonl")
        assert signing.key_dir() == folder / "keys"
    assert app.config["DATABASE_URL"] == f"sqlite:///{folder / 'consent.sqlite3'}"
    assert (folder / "secret_key").read_text().strip() == app.config["SECRET_KEY"]
    db.dispose(app)
