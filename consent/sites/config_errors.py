"""What is wrong with a site configuration file, said about the file: one plain sentence per problem.

Marshmallow names a problem by its path of keys and list indexes ({"purposes": {1: {"title": [...]}}});
an operator looks for it in the YAML they wrote. So a purpose is named by its id ('purpose "analytics"'),
a cookie by its name or pattern, a recipient by its name, an item of a list of plain values by the value
('allowed_origins: "https://shop.example/page"'), and a text by its language ("the English (en) text").
The file's own problems (too large, not UTF-8 text, not YAML, not a mapping) are sentences too.
"""
import codecs
import itertools
import json
import re

import yaml

from consent.config import LANGUAGES

LANGUAGE_NAMES = {"zh-CN": "Chinese", "en": "English"}
# Lists whose items are mappings an operator names: {the list's key: (what one item is, the keys that name it)}.
NAMED_ITEMS = {"purposes": ("purpose", ("id",)), "cookies": ("cookie", ("name", "pattern")),
               "storage": ("storage key", ("key", "pattern")), "recipients": ("recipient", ("name",))}
# A file with hundreds of problems (a list of a thousand bad origins) is told in its first ones.
MAX_SENTENCES = 20
NOT_TEXT = "a site configuration is a YAML text file, in UTF-8."
NOT_MAPPING = "a site configuration is a YAML mapping of keys such as id:, name: and purposes:."
SIMPLE_KEY = re.compile(r"\A[A-Za-z0-9_.-]{1,100}\Z")
BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def sentences(document, messages):
    """Marshmallow's normalized `messages` about the raw `document`, as one sentence per problem."""
    found = list(itertools.islice(_walk(document, messages, (), None), MAX_SENTENCES))
    more = _count(messages) - len(found)
    return found + ([f"... and {more} more problems."] if more > 0 else [])


def language_problems(given):
    """What a localized text lacks, or has that it should not, as sentences naming the languages ([]: none)."""
    missing = [language for language in LANGUAGES if language not in given]
    unexpected = [language for language in given if language not in LANGUAGES]
    problems = []
    if missing:
        names = _and([f"{LANGUAGE_NAMES.get(language, language)} ({language})" for language in missing])
        problems.append(f"The {names} {'texts are' if len(missing) > 1 else 'text is'} missing.")
    if unexpected:
        problems.append(f"Unexpected language{'s' if len(unexpected) > 1 else ''} "
                        f"{_and([_key(language) for language in unexpected])}; "
                        f"give the text in exactly {_and(LANGUAGES)}.")
    return problems


def document_problem(document):
    """A sentence if the YAML document is no mapping at all (empty, a list, one value); else None."""
    if document is None:
        return f"The file is empty: {NOT_MAPPING}"
    if isinstance(document, list):
        return f"The file holds a list: {NOT_MAPPING}"
    if not isinstance(document, dict):
        return f"The file holds a single value: {NOT_MAPPING}"
    return None


def too_large(size, limit):
    """The file is `size` bytes (None: more than it was read of), over `limit`."""
    how_large = f"{size:,} bytes" if size is not None else f"over {limit:,} bytes"
    return (f"The file is {how_large}; a site configuration may be at most {limit:,} bytes "
            "(the setting CONSENT_MAX_SITE_FILE_BYTES).")


def encoding_problem(data):
    """A sentence if the bytes `data` are not UTF-8 text (binary, UTF-16, another encoding); else None."""
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return f"The file is {encoding} text: {NOT_TEXT}"
    if b"\x00" in data:
        return f"The file is binary (it holds NUL bytes): {NOT_TEXT}"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return f"The file is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line} is not UTF-8): {NOT_TEXT}"
    return None


def yaml_problem(error, text):
    """PyYAML's error about `text` as one sentence with its line and column (PyYAML's own spans several lines)."""
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        column = error.position - text.rfind("\n", 0, error.position)
        character = f"#x{error.character:04x}" if isinstance(error.character, int) else repr(error.character)
        return f"The file is not valid YAML: at line {line}, column {column}, the character {character} is not allowed."
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return f"The file is not valid YAML: {_one_line(str(error)).rstrip('.')}."
    where = _at(error.problem_mark)
    problem = _one_line(error.problem or "this cannot be read").rstrip(".")
    context = _one_line(error.context or "")
    if context.startswith("while ") and error.context_mark is not None:
        inside = re.sub(r"\Awhile \w+ (?:an?|the) ", "in the ", context)
        return (f"The file is not valid YAML: {where}, {problem} "
                f"({inside} from {_at(error.context_mark).removeprefix('at ')}).")
    return f"The file is not valid YAML: {where}, {f'{context}, ' if context else ''}{problem}."


def value_problem(error):
    """A value PyYAML could not make (`error`, a ValueError) as a sentence."""
    if "integer string conversion" in str(error):
        return "The file holds a number of over 4,300 digits, which cannot be read."
    return f"The file holds a value that cannot be read: {_one_line(str(error)).rstrip('.')}."


def _at(mark):
    return f"at line {mark.line + 1}, column {mark.column + 1}"


def _walk(raw, messages, path, field):
    """Each problem under `path` (the labels so far) as a sentence; `raw` is the document's value there and
    `field` the key it was found under (which names the items of a list)."""
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, (dict, list)):
                yield from _walk(raw, message, path, field)
            else:
                yield ": ".join((*path, _one_line(str(message))))
        return
    if not isinstance(messages, dict):
        yield ": ".join((*path, _one_line(str(messages))))
        return
    for key, inner in messages.items():
        if key == "_schema":  # about the value itself, not one of its keys
            yield from _walk(raw, inner, path, field)
        elif isinstance(raw, list) and isinstance(key, int):
            item = raw[key] if 0 <= key < len(raw) else None
            yield from _walk(item, inner, _item_path(path, field, raw, key), None)
        else:
            value = raw.get(key) if isinstance(raw, dict) else None
            if isinstance(inner, dict) and inner and set(inner) <= {"key", "value"}:  # an entry of a Dict field
                entry = (*path, _entry(key))
                yield from _walk(None, inner.get("key", []), entry, None)
                yield from _walk(value, inner.get("value", []), entry, key)
            else:
                yield from _walk(value, inner, (*path, _key(key)), key)


def _count(messages):
    if isinstance(messages, dict):
        return sum(_count(inner) for inner in messages.values())
    if isinstance(messages, list):
        return sum(_count(message) if isinstance(message, (dict, list)) else 1 for message in messages)
    return 1


def _item_path(path, field, items, index):
    """The path to item `index` of the list `items` found under `field`."""
    if field not in NAMED_ITEMS:  # a list of plain values: the value, after the list's key
        return (*path, _shown(items[index] if index < len(items) else None) or f"item {index + 1}")
    noun, naming_keys = NAMED_ITEMS[field]
    name = _name(items[index] if index < len(items) else None, naming_keys)
    if name is None:
        label = f"{noun} {index + 1}"
    elif sum(_name(item, naming_keys) == name for item in items) > 1:  # two purposes of one id: say which
        label = f"{noun} {index + 1} ({name})"
    else:
        label = f"{noun} {name}"
    return (*path[:-1], label)  # 'purpose "analytics"' stands for "purposes" and the index


def _name(item, naming_keys):
    """How an operator names a list item: a plain value itself, else its first usable naming key, shown."""
    if isinstance(item, str):
        return _shown(item)
    if not isinstance(item, dict):
        return None
    for key in naming_keys:
        value = item.get(key)
        if isinstance(value, dict):  # a localized name: its English, else any text of it
            value = value.get("en") if isinstance(value.get("en"), str) else next(
                (text for text in value.values() if isinstance(text, str)), None)
        if _shown(value):
            return _shown(value)
    return None


def _shown(value):
    """A text value as it can be quoted in a sentence, or None if it cannot be shown well (long, blank, control
    characters, not a text at all)."""
    if isinstance(value, str) and value.strip() and len(value) <= 100 and value.isprintable():
        return json.dumps(value, ensure_ascii=False)
    return None


def _key(key):
    """A mapping's key as the file writes it: plain when it is a plain word, else quoted."""
    if isinstance(key, str) and SIMPLE_KEY.fullmatch(key):
        return key
    return _shown(key) or _one_line(repr(key))[:100]


def _entry(key):
    return f"the {LANGUAGE_NAMES[key]} ({key}) text" if key in LANGUAGE_NAMES else _key(key)


def _and(words):
    words = list(words)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _one_line(text):
    return " ".join(text.split())
