"""How copier makes a project of your own from this repository's runnable files.

The files here are working files, not templates: they hold no `{{ }}` placeholders, and the dbt
project's own Jinja (`{{ ref() }}`, `{% macro %}`) must reach a generated project untouched. So
copier (copier.yml: `_templates_suffix: ""`, every file goes through Jinja) hands each file to this
Jinja extension, which turns it into one literal block, except where a comment mark asks for a
change. A mark is a comment in the file's own syntax (`#`, `--`, `//`, `<!-- -->` or `{# #}`) whose
text starts with `copier:`:

    connection_id="warehouse",  # copier: swap connection_id
        On this line, the template's value of connection_id ("warehouse") becomes the answer.
    # copier: swap project_slug, conn_env   ...   # copier: endswap
        The same, on every line in between that holds one of the values.
    # copier: if template_repo   ...   # copier: elif EXPR / else / endif
        The lines in between are kept only when the Jinja expression is true.
    # copier: uncomment if warehouse == "postgres"   (also `uncomment elif EXPR`, `uncomment else`)
        The same, and each kept line loses its comment sign: `# dbt-postgres` becomes `dbt-postgres`.

Mark lines, and marks at the end of lines, never reach a generated project. A name's template
value is `_template_values[name]` in copier.yml when it is there, else its default (rendered, as
`copier copy --defaults` would answer). A swap that finds nothing to swap fails the render, naming
the file and line: a marked line edited away from the template value is caught, not skipped.
A file whose own name is Jinja (the answers file) is a real template, left to copier as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from jinja2 import TemplateSyntaxError
from jinja2.ext import Extension

# A whole mark: the comment sign, `copier:`, the mark's body, and the closing sign of `<!--` or `{#`.
MARK = re.compile(r"[ \t]*(?:#|--|//|<!--|\{#)[ \t]*copier:[ \t]*(?P<body>.*?)[ \t]*(?:-->|#\})?[ \t]*$")
BRANCH = re.compile(r"^(?P<uncomment>uncomment\s+)?(?P<kind>if|elif|else)\b\s*(?P<expr>.*)$")
COMMENTED = re.compile(r"^(?P<indent>[ \t]*)(?:(?:#|--|//) ?(?P<text>.*)|<!-- ?(?P<html>.*?) ?-->)$")
ENDRAW = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")


class Marks(Extension):
    """Jinja extension: every file is literal text, except where a `copier:` mark says otherwise."""

    def __init__(self, environment):
        super().__init__(environment)
        self._template_values: dict[str, str] | None = None

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        if name is None or "{{" in name or "{%" in name:
            return source  # copier.yml's own values, file names, and the answers file: real Jinja
        return _File(name, self.template_values()).to_jinja(source)

    def template_values(self) -> dict[str, str]:
        """Each name's value in this repository's files, read once from its copier.yml."""
        if self._template_values is None:
            root = Path(self.environment.loader.searchpath[0])
            config = yaml.safe_load((root / "copier.yml").read_text())
            defaults: dict[str, object] = {}
            for name, question in config.items():
                if name.startswith("_"):
                    continue
                default = question.get("default") if isinstance(question, dict) else question
                if isinstance(default, str) and ("{{" in default or "{%" in default):
                    default = self.environment.from_string(default).render(**defaults)
                defaults[name] = default
            values = {name: value for name, value in defaults.items() if isinstance(value, str) and value}
            values.update(config.get("_template_values") or {})
            self._template_values = values
        return self._template_values


class _File:
    """One file on its way to Jinja: literal text in `{% raw %}` blocks, and what the marks ask for."""

    def __init__(self, name: str, template_values: dict[str, str]):
        self.name = name
        self.values = template_values
        self.out: list[str] = []  # Jinja source
        self.text: list[str] = []  # literal text not yet in `out`
        self.blocks: list[dict] = []  # the open `if` and `swap` blocks, innermost last

    def to_jinja(self, source: str) -> str:
        for lineno, line in enumerate(source.splitlines(keepends=True), start=1):
            content = line.rstrip("\r\n")
            newline = line[len(content) :]
            mark = MARK.search(content)
            if mark and not content[: mark.start()].strip():
                self._mark_line(mark.group("body"), lineno)  # the whole line is a mark: it goes
                continue
            names: list[str] = []
            if mark:  # a mark at the end of a line
                body = mark.group("body")
                if not body.startswith("swap "):
                    self._fail(lineno, f"only `swap` can end a line, not {body!r}")
                names = _names(body)
                content = content[: mark.start()]
            if self._uncommenting() and content.strip():
                content = self._uncomment(content, lineno)
            swaps = [block for block in self.blocks if block["kind"] == "swap"]
            block_names = [name for block in swaps for name in block["names"]]
            if names:
                self._swap(content, names + block_names, lineno)
            elif block_names and any(self._holds(content, name) for name in block_names):
                self._swap(content, block_names, lineno)
                for block in swaps:
                    block["found"] = True
            else:
                self.text.append(content)
            self.text.append(newline)
        if self.blocks:
            self._fail(self.blocks[-1]["line"], f"`{self.blocks[-1]['kind']}` is never closed")
        self._flush()
        return "".join(self.out)

    def _mark_line(self, body: str, lineno: int) -> None:
        self._flush()
        branch = BRANCH.match(body)
        if branch:
            kind, expr = branch.group("kind"), branch.group("expr").strip()
            if kind == "if":
                self.blocks.append({"kind": "if", "line": lineno})
            elif not self.blocks or self.blocks[-1]["kind"] != "if":
                self._fail(lineno, f"`{kind}` without an open `if`")
            if kind != "else" and not expr:
                self._fail(lineno, f"`{kind}` needs a Jinja expression")
            self.blocks[-1]["uncomment"] = bool(branch.group("uncomment"))
            self.out.append("{% " + kind + (f" {expr}" if kind != "else" else "") + " %}")
        elif body == "endif":
            if not self.blocks or self.blocks.pop()["kind"] != "if":
                self._fail(lineno, "`endif` without an open `if`")
            self.out.append("{% endif %}")
        elif body.startswith("swap "):
            self.blocks.append({"kind": "swap", "names": _names(body), "found": False, "line": lineno})
        elif body == "endswap":
            if not self.blocks or self.blocks[-1]["kind"] != "swap":
                self._fail(lineno, "`endswap` without an open `swap`")
            block = self.blocks.pop()
            if not block["found"]:
                self._fail(block["line"], "nothing to swap in this `swap` block")
        else:
            self._fail(lineno, f"unknown mark {body!r}")

    def _uncommenting(self) -> bool:
        return any(block.get("uncomment") for block in self.blocks if block["kind"] == "if")

    def _uncomment(self, content: str, lineno: int) -> str:
        commented = COMMENTED.match(content)
        if not commented:
            self._fail(lineno, "an `uncomment` block holds a line that is not a comment")
        text = commented.group("text") if commented.group("html") is None else commented.group("html")
        return commented.group("indent") + text

    def _swap(self, content: str, names: list[str], lineno: int) -> None:
        for name in names:
            if name not in self.values:
                self._fail(lineno, f"{name!r} has no template value (not a question, nor in _template_values)")
        by_value = {self.values[name]: name for name in names}
        if len(by_value) < len(set(names)):
            self._fail(lineno, f"two of {names} have the same template value: swap one at a time")
        # Longest first, so a value that holds another is swapped whole.
        pattern = re.compile("|".join(_whole(value) for value in sorted(by_value, key=len, reverse=True)))
        position, found = 0, False
        for match in pattern.finditer(content):
            self.text.append(content[position : match.start()])
            self._flush()
            self.out.append("{{ " + by_value[match.group(0)] + " }}")
            position, found = match.end(), True
        if not found:
            wanted = " or ".join(repr(self.values[name]) for name in names)
            self._fail(lineno, f"nothing to swap: {wanted} is not on this line")
        self.text.append(content[position:])

    def _holds(self, content: str, name: str) -> bool:
        value = self.values.get(name)
        return bool(value) and re.search(_whole(value), content) is not None

    def _flush(self) -> None:
        text = "".join(self.text)
        self.text.clear()
        if text:
            # A literal `{% endraw %}` would end the raw block early: write it as a Jinja string.
            text = ENDRAW.sub(lambda m: "{% endraw %}{{ " + repr(m.group(0)) + " }}{% raw %}", text)
            self.out.append("{% raw %}" + text + "{% endraw %}")

    def _fail(self, lineno: int, message: str):
        raise TemplateSyntaxError(f"copier mark: {message}", lineno, self.name, self.name)


def _whole(value: str) -> str:
    """A pattern for `value` as a whole: not the middle of a longer name (`shop` is not in `shops`)."""
    before = r"(?<!\w)" if re.match(r"\w", value) else ""
    after = r"(?!\w)" if re.search(r"\w$", value) else ""
    return before + re.escape(value) + after


def _names(body: str) -> list[str]:
    """The names of a `swap NAME, NAME` mark."""
    return [name.strip() for name in body.removeprefix("swap ").split(",") if name.strip()]
