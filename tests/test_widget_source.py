"""The widget is dependency-free ES2017 (its banner script and its lazy part): nothing a 2017 engine cannot parse.

Esprima parses ECMAScript 2017 and refuses most later syntax by itself (optional chaining, `??`,
`catch {}`, `for await`); it accepts object rest and spread (ES2018), which the walk below refuses,
as it does regular expressions with ES2018 flags or groups.
"""
import re
from pathlib import Path

import esprima
import pytest

STATIC = Path(__file__).resolve().parent.parent / "static"
# The banner's script and what it loads after the banner: both sources of the widget.
WIDGET_FILES = ("consent.js", "consent-lazy.js")
ES2018_REGEX = ("(?<=", "(?<!", "(?<", "\\p{", "\\P{")


def later_than_es2017(source):
    """Why `source` is not ES2017 script syntax, one reason per offending construct; empty if it is."""
    try:
        tree = esprima.parseScript(source, {"loc": True})
    except esprima.Error as error:
        return [str(error)]
    reasons = []

    def visit(node):
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, esprima.nodes.Node):
            return
        line = node.loc.start.line if getattr(node, "loc", None) else "?"
        if node.type in ("ObjectExpression", "ObjectPattern"):
            for prop in node.properties:
                if prop.type in ("SpreadElement", "RestElement"):
                    reasons.append(f"line {line}: object rest/spread is ES2018")
        if node.type == "Literal" and getattr(node, "regex", None):
            if "s" in node.regex.flags or any(marker in node.regex.pattern for marker in ES2018_REGEX):
                reasons.append(f"line {line}: regular expression syntax of ES2018")
        for value in vars(node).values():
            if isinstance(value, (list, esprima.nodes.Node)):
                visit(value)

    visit(tree.body)
    return reasons


@pytest.mark.parametrize("name", WIDGET_FILES)
def test_widget_is_es2017_without_dependencies(name):
    source = (STATIC / name).read_text(encoding="utf-8")
    assert later_than_es2017(source) == []
    assert "import " not in source.split("*/", 1)[1] and "require(" not in source  # nothing to load
    # One global, Consent: the lazy file finds what it shares on its own <script> element.
    assert set(re.findall(r"\bwindow\.(\w+)\s*=(?!=)", source)) <= {"Consent"}


@pytest.mark.parametrize("later", [
    "const copy = { ...original };",
    "const { a, ...rest } = value;",
    "const name = config?.name;",
    "const name = given ?? fallback;",
    "try { risky(); } catch { recover(); }",
    "async function drain(stream) { for await (const chunk of stream) use(chunk); }",
    "const pattern = /a.b/s;",
    "const pattern = /(?<=\\$)\\d+/;",
])
def test_later_syntax_is_refused(later):
    assert later_than_es2017(later) != []


def test_es2017_syntax_is_accepted():
    source = "async function f(items) { const [first, ...others] = items; await g(...others); return `${first}`; }"
    assert later_than_es2017(source) == []
