"""The deploy recipe (README, "A deploy recipe": deploy/ and the Procfile) against the code it runs: every command
exists with the flags it is given, every variable is a setting of the right type, the units may write where the
app writes, and nginx's limits and headers are the app's. A renamed command, flag or setting fails here."""
import copy
import inspect
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click
import pytest
from flask.cli import cli as flask_main
from gunicorn.config import KNOWN_SETTINGS, Config
from gunicorn.util import import_app

from consent import config
from consent.http.security import PLACEHOLDER_SECRET_KEYS
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
TIMERS = sorted((DEPLOY / "systemd").glob("*.timer"))
ENV_EXAMPLE = DEPLOY / "consent.env.example"
NGINX = DEPLOY / "nginx" / "consent.conf"
PROCFILE = ROOT / "Procfile"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(heading, text=README):
    """The text under a markdown heading, up to the next heading of its level or higher (outside code blocks)."""
    level, lines, inside, fenced = heading.split(" ", 1)[0], [], False, False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if inside and not fenced and re.match(rf"#{{1,{len(level)}}} ", line):
            break
        if inside:
            lines.append(line)
        inside = inside or line == heading
    assert inside, f"README.md has no {heading!r}"
    return "\n".join(lines) + "\n"


RECIPE = section("### A deploy recipe")


# ---- Reading the files ----------------------------------------------------------------------------------------

def unit_sections(path):
    """{section: [(key, value), ...]} of a systemd unit file; continued lines joined, comments left out."""
    sections, current, pending = {}, None, ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(path, key, part="Service"):
    return [value for name, value in unit_sections(path).get(part, []) if name == key]


def unit_command(path):
    """The ExecStart of a unit as arguments, without systemd's prefixes (-, @, +, !)."""
    (command,) = unit_values(path, "ExecStart")
    return shlex.split(command.lstrip("-@+!:"))


def procfile():
    """{process type: arguments} of the Procfile, with the shell's ${NAME:-default} read as its default."""
    processes = {}
    for line in PROCFILE.read_text(encoding="utf-8").splitlines():
        found = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if found:
            command = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", found.group(2))
            assert "$" not in command, f"Procfile {found.group(1)}: a variable without a default: {command}"
            processes[found.group(1)] = shlex.split(command)
    return processes


def env_lines():
    """[(name, value, commented out)] of every NAME=value line of the example, quotes removed."""
    lines = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        found = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if found:
            value = found.group(3)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            lines.append((found.group(2), value, bool(found.group(1))))
    return lines


def env_settings():
    """{name: value} the example sets (not commented out)."""
    return {name: value for name, value, commented in env_lines() if not commented}


def every_command():
    """(where, arguments) of every command the recipe runs: the units' ExecStart and the Procfile's lines."""
    commands = [(f"{path.name} ExecStart", unit_command(path)) for path in UNITS]
    commands += [(f"Procfile {name}", command) for name, command in procfile().items()]
    return commands


def flask_commands():
    return [(where, command) for where, command in every_command() if Path(command[0]).name == "flask"]


def gunicorn_commands():
    return [(where, command) for where, command in every_command() if Path(command[0]).name == "gunicorn"]


# ---- The commands ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_app(tmp_path_factory):
    return make_app(f"sqlite:///{tmp_path_factory.mktemp('deploy') / 'consent.sqlite3'}")


def command_problem(app, arguments):
    """What is wrong with the `flask consent ...` command `arguments` (after `consent`) name, parsed as click
    would parse it, or None: a name or flag the CLI does not have is click's own message. What the command would
    ask at a prompt (a password) is not asked."""
    command, path, rest = app.cli.get_command(click.Context(app.cli), "consent"), ["consent"], list(arguments)
    if command is None:
        return "the app has no `flask consent` group"
    while isinstance(command, click.Group):
        if not rest or rest[0].startswith("-"):
            return f"`flask {' '.join(path)}` needs a command after it"
        name = rest.pop(0)
        command, path = command.get_command(click.Context(command), name), [*path, name]
        if command is None:
            return f"`flask {' '.join(path[:-1])}` has no command {name!r}"
    parsed = copy.copy(command)  # the same parameters, none of them asking at a prompt
    parsed.params = [param if getattr(param, "prompt", None) is None else copy.copy(param) for param in command.params]
    for param in parsed.params:
        param.prompt = None
    try:
        parsed.make_context(" ".join(path), rest)
    except click.ClickException as error:
        return f"`flask {' '.join(path)} {' '.join(rest)}`: {error.format_message()}"
    return None


def test_the_recipe_runs_every_kind_of_process():
    assert {path.name for path in UNITS} >= {"consent-web.service", "consent-webhooks.service",
                                             "consent-stats.service", "consent-scan.service"}
    assert {"release", "web", "webhooks", "stats", "scan"} <= set(procfile())
    assert len(flask_commands()) >= 8 and len(gunicorn_commands()) == 2


@pytest.mark.parametrize("where, command", flask_commands(), ids=[where for where, _ in flask_commands()])
def test_every_flask_command_exists_with_its_flags(cli_app, where, command):
    arguments = command[1:]
    app_options = {option for param in flask_main.params for option in param.opts}
    assert arguments[:2] == ["--app", "app"] and "--app" in app_options, f"{where}: flask --app app ..."
    assert (ROOT / "app.py").exists()
    assert arguments[2] == "consent", f"{where}: not a `flask consent` command"
    assert command_problem(cli_app, arguments[3:]) is None


def test_a_renamed_command_or_flag_would_fail_here(cli_app):
    """The check above is not vacuous: what the CLI lacks is refused."""
    assert command_problem(cli_app, ["webhooks", "deliver", "--interval", "5"]) is None
    for wrong in (["webhooks", "send"], ["stats", "rollup", "--workers"], ["scan", "--worker", "--interval", "x"],
                  ["log"], ["keys", "rotate", "now"]):
        assert command_problem(cli_app, wrong) is not None, wrong


@pytest.mark.parametrize("where, command", gunicorn_commands(), ids=[where for where, _ in gunicorn_commands()])
def test_every_gunicorn_command_parses_and_names_a_config_that_loads(where, command):
    parser = Config(prog="gunicorn").parser()
    try:
        options = parser.parse_args(command[1:])
    except SystemExit:
        pytest.fail(f"{where}: gunicorn refuses {command[1:]}")
    assert options.config == "gunicorn.conf.py" and options.args == ["app:app"], where
    names = {setting.name for setting in KNOWN_SETTINGS}
    namespace = {}
    exec(compile((ROOT / options.config).read_text(encoding="utf-8"), options.config, "exec"), namespace)
    settings = {name for name, value in namespace.items() if not name.startswith("_") and not inspect.ismodule(value)}
    assert settings and settings <= names, f"{options.config}: not gunicorn settings: {sorted(settings - names)}"


def test_app_app_is_what_gunicorn_imports(monkeypatch, tmp_path):
    """`app:app` as gunicorn loads it, in production mode, with the example's settings (but a real secret, and
    SQLite and files in a temporary directory, and no Redis to reach)."""
    for name, value in env_settings().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'consent.sqlite3'}")
    monkeypatch.setenv("SECRET_KEY", "kR7-v2QpXw9zLmN4sT1uY6bH3jF8dC0aE5gV")
    monkeypatch.setenv("CONSENT_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("CONSENT_CHECKPOINT_FILE", str(tmp_path / "checkpoints.jsonl"))
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.delitem(sys.modules, "app", raising=False)
    try:
        application = import_app("app:app")
    finally:
        sys.modules.pop("app", None)
    assert callable(application) and application.config["CONSENT_PROXY_HOPS"] == 1
    assert not application.testing and not application.debug


def test_the_readme_names_a_unit_for_each_loop_and_the_procfile_runs_them_too():
    """The loops README "Deploy" names each have a unit, and the Procfile runs what the long-running units run."""
    named = re.findall(r"`flask consent ([a-z -]+?)`", section("## Deploy").split("### ", 1)[0])
    assert len(named) >= 3, named
    unit_runs = {" ".join(unit_command(path)[4:]): path for path in UNITS
                 if Path(unit_command(path)[0]).name == "flask"}
    for loop in named:
        assert any(runs.startswith(loop) for runs in unit_runs), f"no unit runs `flask consent {loop}`"
    long_running = {runs for runs, path in unit_runs.items() if unit_values(path, "Type") != ["oneshot"]}
    procfile_runs = {" ".join(command[4:]) for name, command in procfile().items()
                     if Path(command[0]).name == "flask" and name != "release"}
    assert procfile_runs == long_running


def test_the_recipes_own_consent_lines_are_commands(cli_app):
    """The README's recipe runs `consent ...` (a shell function around `flask --app app consent`)."""
    blocks = re.findall(r"```sh\n(.*?)```", RECIPE, flags=re.S)
    function = re.search(r'flask --app app consent "\$@"', "".join(blocks))
    assert function, "the recipe's `consent` function is gone"
    lines = [line.split("#", 1)[0].split() for block in blocks for line in block.splitlines()
             if line.startswith("consent ")]
    assert len(lines) >= 4, lines
    a_site_file = str(next((ROOT / "examples" / "sites").glob("*.yaml")))  # the recipe's stand for files of yours
    for words in lines:
        assert command_problem(cli_app, [a_site_file if "/" in word else word for word in words[1:]]) is None


# ---- The settings -----------------------------------------------------------------------------------------------

def settings_table():
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", (ROOT / "docs" / "settings.md").read_text(encoding="utf-8"),
                          flags=re.M))


def read_settings():
    """Every variable something of ours reads: the app (consent/config.py) and gunicorn.conf.py."""
    gunicorn_reads = set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', (ROOT / "gunicorn.conf.py").read_text()))
    assert "SECRET_KEY_FALLBACKS" in (ROOT / "consent" / "config.py").read_text(encoding="utf-8")
    return set(config.environment_settings()) | {"SECRET_KEY_FALLBACKS"} | gunicorn_reads


def test_every_variable_of_the_example_is_a_documented_setting_that_is_read():
    names = {name for name, _value, _commented in env_lines()}
    assert len(names) >= 15, names
    assert sorted(names - settings_table()) == [], "not in docs/settings.md"
    assert sorted(names - read_settings()) == [], "read by nothing"


def test_the_example_decides_everything_the_readme_says_a_deployment_must():
    must = section("### Settings")
    table = re.findall(r"^\|(.*?)\|", must, flags=re.M)[2:]
    named = {name for cell in table for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    assert {"DATABASE_URL", "SECRET_KEY", "CONSENT_KEY_DIR", "CONSENT_BIND"} <= named, named
    assert sorted(named - set(env_settings())) == []


def test_the_examples_values_are_of_each_settings_type(monkeypatch):
    for name in read_settings():
        monkeypatch.delenv(name, raising=False)
    for name, value in env_settings().items():
        monkeypatch.setenv(name, value)
    read = config.from_environment()  # a wrong type stops it with a sentence
    assert read["CONSENT_PROXY_HOPS"] == 1
    for name in ("WEB_CONCURRENCY", "CONSENT_THREADS"):
        int(env_settings()[name])
    assert read["SECRET_KEY"] in PLACEHOLDER_SECRET_KEYS, "the example holds a placeholder the app refuses, no key"


def test_the_example_reads_the_same_in_sh_as_in_systemd():
    """The units read it as an EnvironmentFile, the recipe's `consent` function with `.`: both must agree."""
    shown = subprocess.run(["sh", "-c", 'set -a; . "$1"; env', "sh", str(ENV_EXAMPLE)], env={"PATH": os.defpath},
                           capture_output=True, text=True, check=True).stdout
    from_sh = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    assert {name: from_sh.get(name) for name in env_settings()} == env_settings()


# ---- The units ----------------------------------------------------------------------------------------------------

WRITABLE_KEYS = {"StateDirectory": "/var/lib", "LogsDirectory": "/var/log", "RuntimeDirectory": "/run",
                 "CacheDirectory": "/var/cache"}


def writable(path):
    """The directories a unit may write under ProtectSystem=strict."""
    places = [Path(place) for place in " ".join(unit_values(path, "ReadWritePaths")).split()]
    for key, base in WRITABLE_KEYS.items():
        places += [Path(base) / name for value in unit_values(path, key) for name in value.split()]
    return places


def may_write(path, target):
    return any(Path(target).is_relative_to(place) for place in writable(path))


@pytest.mark.parametrize("path", UNITS, ids=lambda path: path.name)
def test_each_unit_runs_the_code_as_the_service_user_with_the_settings_file(path):
    assert unit_values(path, "User") == ["consent"] and unit_values(path, "Group") == ["consent"]
    assert unit_values(path, "EnvironmentFile") == ["/etc/consent/consent.env"]
    (directory,) = unit_values(path, "WorkingDirectory")
    assert unit_command(path)[0].startswith(f"{directory}/.venv/bin/")
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                       ("ProtectHome", "yes")):
        assert unit_values(path, key) == [value], f"{path.name}: {key}={value}"
    assert not any(Path(directory).is_relative_to(place) for place in writable(path)), "the code must stay read-only"
    # With SQLite on one host (the example's alternative DATABASE_URL), every process opens the database.
    (sqlite,) = [value for name, value, _ in env_lines() if name == "DATABASE_URL" and value.startswith("sqlite")]
    assert may_write(path, urlsplit(sqlite.replace("sqlite:///", "file://")).path), f"{path.name}: SQLite"


def test_whoever_signs_checkpoints_may_write_the_checkpoint_file():
    """The web workers sign them automatically, `log checkpoint` on its timer: both append to the file, which a
    read-only file system would lose (logged, not raised)."""
    target = env_settings()["CONSENT_CHECKPOINT_FILE"]
    signers = [path for path in UNITS if Path(unit_command(path)[0]).name == "gunicorn"
               or unit_command(path)[-2:] == ["log", "checkpoint"]]
    assert len(signers) == 2
    for path in signers:
        assert may_write(path, target), f"{path.name} cannot write {target}"


def test_the_control_socket_is_in_the_web_units_runtime_directory():
    (web,) = [path for path in UNITS if Path(unit_command(path)[0]).name == "gunicorn"]
    command = unit_command(web)
    socket = command[command.index("--control-socket") + 1]
    assert may_write(web, socket)


@pytest.mark.parametrize("path", TIMERS, ids=lambda path: path.name)
def test_each_timer_starts_a_unit_of_the_recipe(path):
    started = unit_values(path, "Unit", part="Timer") or [path.name.replace(".timer", ".service")]
    assert all((DEPLOY / "systemd" / name).exists() for name in started)


# ---- nginx --------------------------------------------------------------------------------------------------------

def nginx_lines():
    return [line.split("#", 1)[0].strip() for line in NGINX.read_text(encoding="utf-8").splitlines()
            if line.split("#", 1)[0].strip()]


def body_size(text):
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", text).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]


def nginx_locations():
    """[(modifier, pattern, directives)] of the server's locations."""
    text = "\n".join(nginx_lines())
    return [(modifier, pattern, body)
            for modifier, pattern, body in re.findall(r"location\s+(=|~)?\s*(\S+)\s*\{(.*?)\}", text, flags=re.S)]


def test_nginx_limits_bodies_as_the_app_does(cli_app):
    defaults = config.defaults()
    server_wide = [line for line in nginx_lines() if line.startswith("client_max_body_size")][0]
    assert body_size(server_wide.split()[1].rstrip(";")) == defaults["MAX_CONTENT_LENGTH"]
    small = [(modifier, pattern) for modifier, pattern, body in nginx_locations()
             if (found := re.search(r"client_max_body_size\s+(\w+);", body))
             and body_size(found.group(1)) == defaults["CONSENT_MAX_BODY_BYTES"]]
    assert small, "no location holds the widget's POSTs to CONSENT_MAX_BODY_BYTES"

    def limited(path):
        return any(path == pattern if modifier == "=" else re.search(pattern, path) for modifier, pattern in small)

    widget_posts = [re.sub(r"<[^>]+>", "demo", rule.rule) for rule in cli_app.url_map.iter_rules()
                    if rule.endpoint.startswith("api.") and "POST" in rule.methods]
    assert len(widget_posts) >= 4, widget_posts
    assert [path for path in widget_posts if not limited(path)] == []
    # ... and nothing else: the site backend and auditor APIs take up to MAX_CONTENT_LENGTH.
    others = [re.sub(r"<[^>]+>", "demo", rule.rule) for rule in cli_app.url_map.iter_rules()
              if not rule.endpoint.startswith(("api.", "static")) and rule.methods & {"POST", "PUT", "DELETE"}]
    assert others and [path for path in others if limited(path)] == []
    for modifier, pattern in small:
        assert any(path == pattern if modifier == "=" else re.search(pattern, path) for path in widget_posts), pattern


def test_nginx_is_one_hop_and_leaves_the_apps_caching_alone():
    lines = nginx_lines()
    assert env_settings()["CONSENT_PROXY_HOPS"] == "1"
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in lines  # one value, whatever the client sent
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in lines
    overriding = ("expires", "add_header", "proxy_hide_header", "proxy_ignore_headers", "proxy_cache ", "gzip on")
    assert [line for line in lines if line.startswith(overriding)] == []
    assert "access_log off;" in lines  # the app logs a keyed hash of the address, never the address or the path
    assert not any(line.startswith(("root ", "alias ")) for line in lines), "static/ comes from the app"


def test_nginx_answers_for_the_public_url_and_reaches_the_bind_address():
    lines = nginx_lines()
    public = urlsplit(env_settings()["CONSENT_PUBLIC_URL"])
    assert public.scheme == "https"
    assert f"server_name {public.hostname};" in lines
    assert f"server {env_settings()['CONSENT_BIND']};" in lines


# ---- The README -----------------------------------------------------------------------------------------------------

def test_every_file_the_recipe_names_exists():
    named = set(re.findall(r"`((?:deploy/[\w./-]+)|Procfile)`", RECIPE))
    assert {"Procfile", "deploy/consent.env.example", "deploy/nginx/consent.conf"} <= named
    assert sorted(path for path in named if not (ROOT / path).exists()) == []
    shipped = {path.relative_to(ROOT).as_posix() for path in DEPLOY.rglob("*") if path.is_file()}
    assert sorted(shipped - named) == [], "a file in deploy/ the README does not name"
