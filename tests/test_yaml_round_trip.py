"""`flask consent site export` re-imported gives the identical export; webhook secrets never leave."""
import pytest
import yaml

from consent.errors import InvalidRequest
from consent.sites import configs
from consent.storage import db
from consent.storage.operations import SiteWebhook
from tests.conftest import import_site, load_site_config
from tests.test_sites import EXAMPLES


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["consent", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_export_reimported_exports_identically(app, tmp_path, path):
    run(app, "site", "import", str(path))
    site_id = yaml.safe_load(path.read_text(encoding="utf-8"))["id"]
    first = run(app, "site", "export", site_id)
    (tmp_path / "exported.yaml").write_text(first, encoding="utf-8")
    run(app, "site", "import", str(tmp_path / "exported.yaml"))
    assert run(app, "site", "export", site_id) == first


def test_webhook_url_round_trips_and_secret_stays_out(app, tmp_path):
    import_site(app, load_site_config(webhook={"url": "https://shop.example/hooks/consent", "secret": "s" * 32}))
    exported = run(app, "site", "export", "shop")
    assert yaml.safe_load(exported)["webhook"] == {"url": "https://shop.example/hooks/consent"}
    assert "s" * 32 not in exported
    (tmp_path / "shop.yaml").write_text(exported, encoding="utf-8")
    run(app, "site", "import", str(tmp_path / "shop.yaml"))
    assert run(app, "site", "export", "shop") == exported
    with app.app_context():
        assert db.get_session().get(SiteWebhook, "shop").secret == "s" * 32  # kept, not regenerated


def test_removing_the_webhook_from_yaml_removes_it(app):
    import_site(app, load_site_config(webhook={"url": "https://shop.example/hooks/consent"}))
    import_site(app, load_site_config())
    with app.app_context():
        assert db.get_session().get(SiteWebhook, "shop") is None


@pytest.mark.parametrize(
    "webhook",
    [{"url": "ftp://shop.example/x"}, {"url": "not a url"}, {"secret": "s" * 32},
     {"url": "https://a.example", "secret": "short"}, {"url": "https://a.example", "extra": 1}, "https://a.example"],
)
def test_bad_webhook_config_is_refused(webhook):
    with pytest.raises(InvalidRequest) as refused:
        configs.validate_config(load_site_config(webhook=webhook))
    assert "webhook" in refused.value.errors
