"""Subject tokens: one table of vectors pins the format; the module and every README snippet must match it.

The README's "Identifying your users" section gives a snippet per language for a site backend to paste;
each is extracted and run here against tests/data/subject_token_vectors.json. Python always runs; another
language is skipped only when its runtime is not installed. A snippet missing from the README fails.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from consent.subjects.tokens import mac_matches, make_token, parse

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
VECTORS_FILE = Path(__file__).parent / "data" / "subject_token_vectors.json"
TABLE = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
VECTORS = TABLE["vectors"]
VECTOR_IDS = [vector["name"] for vector in VECTORS]
SECTION = "## Identifying your users"
SUBSECTION = "### Making a subject token"
LANGUAGES = ["python", "javascript", "java", "php", "go"]
COMPILE_TIMEOUT = 60
RUN_TIMEOUT = 60
FIELDS = ("secret", "kid", "site_id", "subject_id", "expires")


# The table itself


def test_table_shape():
    assert TABLE["format"] == "cst1"
    assert len(set(VECTOR_IDS)) == len(VECTORS) >= 9
    for vector in VECTORS:
        assert set(vector) == {"name", *FIELDS, "token"}, vector["name"]
        assert isinstance(vector["expires"], int) and not isinstance(vector["expires"], bool)
    assert len({vector["token"] for vector in VECTORS}) == len(VECTORS)


def test_table_covers_awkward_subject_ids():
    subjects = [vector["subject_id"] for vector in VECTORS]
    assert any(re.fullmatch(r"[A-Za-z0-9_-]+", subject) for subject in subjects)
    assert any(re.search(r"[\u4e00-\u9fff]", subject) for subject in subjects)
    assert any(all(mark in subject for mark in ":,. ") for subject in subjects)
    assert any(len(subject) == 128 for subject in subjects)
    assert any(len(char.encode("utf-8")) == 4 for subject in subjects for char in subject)
    assert any(vector["expires"] >= 4102444800 for vector in VECTORS)


@pytest.mark.parametrize("field", ["site_id", "kid"])
def test_table_shows_that_one_field_changes_the_token(field):
    """Some two vectors differ only by `field`, and their tokens differ."""
    others = [name for name in FIELDS if name != field]
    pairs = [
        (one, two)
        for one in VECTORS
        for two in VECTORS
        if one[field] < two[field] and all(one[name] == two[name] for name in others)
    ]
    assert pairs, f"no two vectors differ only by {field}"
    assert all(one["token"] != two["token"] for one, two in pairs)


# The Python module


@pytest.mark.parametrize("vector", VECTORS, ids=VECTOR_IDS)
def test_module_makes_each_vector(vector):
    assert make_token(*(vector[name] for name in FIELDS)) == vector["token"]


@pytest.mark.parametrize("vector", VECTORS, ids=VECTOR_IDS)
def test_module_accepts_each_vector(vector):
    parsed = parse(vector["token"])
    assert parsed is not None
    assert (parsed.kid, parsed.expires) == (vector["kid"], vector["expires"])
    assert mac_matches(parsed, vector["secret"], vector["site_id"], vector["subject_id"])


def _other_secret(vector):
    return next(other["secret"] for other in VECTORS if other["secret"] != vector["secret"])


def _replace_part(token, index, value):
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


CHANGES = {
    # name: vector -> (token, secret, site_id, subject_id) that must be refused
    "site_id": lambda v: (v["token"], v["secret"], v["site_id"] + "x", v["subject_id"]),
    "other_site_id": lambda v: (v["token"], v["secret"], "shop" if v["site_id"] != "shop" else "shop-eu",
                                v["subject_id"]),
    "subject_id": lambda v: (v["token"], v["secret"], v["site_id"], v["subject_id"] + "x"),
    "subject_id_prefix": lambda v: (v["token"], v["secret"], v["site_id"], v["subject_id"][:-1]),
    "kid_with_other_secret": lambda v: (_replace_part(v["token"], 1, "other9"), _other_secret(v), v["site_id"],
                                        v["subject_id"]),
    "other_secret": lambda v: (v["token"], _other_secret(v), v["site_id"], v["subject_id"]),
    "kid": lambda v: (_replace_part(v["token"], 1, v["kid"] + "0"), v["secret"], v["site_id"], v["subject_id"]),
    "expires_later": lambda v: (_replace_part(v["token"], 2, str(v["expires"] + 1)), v["secret"], v["site_id"],
                                v["subject_id"]),
    "expires_earlier": lambda v: (_replace_part(v["token"], 2, str(v["expires"] - 86400)), v["secret"],
                                  v["site_id"], v["subject_id"]),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("vector", VECTORS, ids=VECTOR_IDS)
def test_module_refuses_each_vector_changed(vector, change):
    token, secret, site_id, subject_id = CHANGES[change](vector)
    parsed = parse(token)
    assert parsed is not None, token
    assert not mac_matches(parsed, secret, site_id, subject_id)


# The README snippets


def readme_snippets():
    """{info string: [code, ...]} of the fenced blocks in the README's "Making a subject token"."""
    snippets = {}
    in_section = in_subsection = False
    fence = None
    for line in README.read_text(encoding="utf-8").splitlines():
        if fence is not None:
            if line.strip() == fence[0]:
                if in_subsection:
                    snippets.setdefault(fence[1], []).append("\n".join(fence[2]) + "\n")
                fence = None
            else:
                fence[2].append(line)
            continue
        opening = re.match(r"(`{3,}|~{3,})\s*([^\s`]*)", line)
        if opening:
            fence = (opening.group(1), opening.group(2), [])
            continue
        heading = re.match(r"(#{1,6})\s", line)
        if heading:
            level = len(heading.group(1))
            if level <= 2:
                in_section = line.rstrip() == SECTION
                in_subsection = False
            elif level == 3:
                in_subsection = in_section and line.rstrip() == SUBSECTION
    return snippets


def snippet(language):
    found = readme_snippets().get(language, [])
    assert len(found) == 1, (
        f'README.md, "{SECTION}" / "{SUBSECTION}", should hold exactly one ```{language} block; found {len(found)}'
    )
    return found[0]


def require(*commands):
    for command in commands:
        if shutil.which(command) is None:
            pytest.skip(f"`{command}` is not on PATH: the README's snippet for this language was not run")


def run(command, cwd, timeout, stdin="", env=None):
    completed = subprocess.run(
        command, cwd=cwd, input=stdin, capture_output=True, text=True, encoding="utf-8", timeout=timeout, env=env
    )
    assert completed.returncode == 0, f"{' '.join(map(str, command))} failed:\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout


def tab_separated_vectors():
    """One vector a line, its fields in FIELDS order, for harnesses without a JSON parser."""
    for vector in VECTORS:
        assert not any(mark in str(vector[name]) for name in FIELDS for mark in "\t\r\n"), vector["name"]
    return "".join("\t".join(str(vector[name]) for name in FIELDS) + "\n" for vector in VECTORS)


def tokens_python(code, tmp_path):
    namespace = {"__name__": "readme_subject_token_snippet"}
    exec(compile(code, "README.md (python)", "exec"), namespace)
    return [namespace["subject_token"](*(vector[name] for name in FIELDS)) for vector in VECTORS]


NODE_HARNESS = """
const vectors = JSON.parse(require("fs").readFileSync(0, "utf8")).vectors;
for (const v of vectors) {
  process.stdout.write(subjectToken(v.secret, v.kid, v.site_id, v.subject_id, v.expires) + "\\n");
}
"""


def tokens_javascript(code, tmp_path):
    require("node")
    (tmp_path / "snippet.js").write_text(code + NODE_HARNESS, encoding="utf-8")
    stdin = json.dumps(TABLE, ensure_ascii=False)
    return run(["node", "snippet.js"], tmp_path, RUN_TIMEOUT, stdin).splitlines()


JAVA_MAIN = """
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

public final class Main {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            String[] f = line.split("\\t", -1);
            out.append(SubjectToken.make(f[0], f[1], f[2], f[3], Long.parseLong(f[4]))).append('\\n');
        }
        System.out.print(out);
    }
}
"""


def tokens_java(code, tmp_path):
    require("javac", "java")
    (tmp_path / "SubjectToken.java").write_text(code, encoding="utf-8")
    (tmp_path / "Main.java").write_text(JAVA_MAIN, encoding="utf-8")
    run(["javac", "-encoding", "UTF-8", "-d", "classes", "SubjectToken.java", "Main.java"], tmp_path, COMPILE_TIMEOUT)
    return run(["java", "-cp", "classes", "Main"], tmp_path, RUN_TIMEOUT, tab_separated_vectors()).splitlines()


PHP_HARNESS = """
while (($line = fgets(STDIN)) !== false) {
    [$secret, $kid, $siteId, $subjectId, $expires] = explode("\\t", rtrim($line, "\\n"));
    echo subject_token($secret, $kid, $siteId, $subjectId, (int) $expires), "\\n";
}
"""


def tokens_php(code, tmp_path):
    require("php")
    body = re.sub(r"\A\s*<\?php\s*", "", code)
    (tmp_path / "snippet.php").write_text("<?php\n" + body + PHP_HARNESS, encoding="utf-8")
    return run(["php", "snippet.php"], tmp_path, RUN_TIMEOUT, tab_separated_vectors()).splitlines()


# In its own file of the same package, so its imports cannot clash with the snippet's.
GO_MAIN = """package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		f := strings.Split(in.Text(), "\\t")
		expires, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			panic(err)
		}
		out.WriteString(SubjectToken(f[0], f[1], f[2], f[3], expires) + "\\n")
	}
}
"""


def tokens_go(code, tmp_path):
    require("go")
    (tmp_path / "snippet.go").write_text("package main\n\n" + code, encoding="utf-8")
    (tmp_path / "main.go").write_text(GO_MAIN, encoding="utf-8")
    env = dict(os.environ)
    if not any(env.get(name) for name in ("GOCACHE", "XDG_CACHE_HOME", "HOME")):
        env["GOCACHE"] = str(tmp_path / "go-cache")
    command = ["go", "run", "snippet.go", "main.go"]
    return run(command, tmp_path, COMPILE_TIMEOUT, tab_separated_vectors(), env).splitlines()


RUNNERS = {
    "python": tokens_python,
    "javascript": tokens_javascript,
    "java": tokens_java,
    "php": tokens_php,
    "go": tokens_go,
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_readme_snippet_makes_every_vector(language, tmp_path):
    code = snippet(language)
    tokens = RUNNERS[language](code, tmp_path)
    assert len(tokens) == len(VECTORS), tokens
    wrong = [
        f"{vector['name']}: expected {vector['token']}, got {token}"
        for vector, token in zip(VECTORS, tokens, strict=True)
        if token != vector["token"]
    ]
    assert not wrong, f"README {language} snippet disagrees with {VECTORS_FILE.name}:\n" + "\n".join(wrong)


def test_readme_section_holds_only_the_five_snippets():
    assert sorted(readme_snippets()) == sorted(LANGUAGES)
