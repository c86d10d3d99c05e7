"""Rewrite the book's MyST roles into Markdown links that read the same in JupyterLab and on the site.

JupyterLab with jupyterlab-myst renders MyST directives ({note}, {warning}) and math, but it
cannot resolve Sphinx's roles: {cite:t}`key` shows a warning icon and the bib key, {term} a link
to nowhere, {doc} a link to a file that does not exist. This tool rewrites each of them into a
plain Markdown link, relative to the file it is in, that both readers follow:

    {cite:t}`bahdanau2015`        ->  [Bahdanau et al. (2015)](../book/references.md#bahdanau2015)
    {cite:p}`jain2019,wiegreffe2019`
        ->  ([Jain and Wallace, 2019](../book/references.md#jain2019);
             [Wiegreffe and Pinter, 2019](../book/references.md#wiegreffe2019))
    {term}`padding masks <padding mask>`
        ->  [padding masks](../book/glossary.md#term-padding-mask)
    {doc}`Exercise 4.1 <../book/exercises/ex4_1_bahdanau_vs_luong>`
        ->  [Exercise 4.1](../exercises/ex4_1_bahdanau_vs_luong.ipynb)
    {doc}`bibliography <../book/references>`  ->  [bibliography](../book/references.md)

A link to an exercise opens the exercise notebook in JupyterLab; on the site,
_ext/course_links.py sends it to the exercise's page. Citation links get their text from
book/references.bib (author and year, "2014a"/"2014b" where a first author has two papers
in a year), so running the tool again after a change to the bib file updates every citation.
It also writes book/references.md, the bibliography page, from book/references.bib: one
paragraph per entry, anchored by its key, readable in JupyterLab's Markdown preview and on
the site alike.

Only markdown is touched: markdown cells of notebooks (code cells, outputs and metadata are
left as they are) and .md pages; fenced code blocks, ``double-backtick`` code spans and a
role's name shown as code (`{cite:t}`) are skipped. Running it twice changes nothing.

    python tools/convert_markup.py            # every course source: notebooks/, solutions/, book/*.md
    python tools/convert_markup.py FILE ...   # only these files (and book/references.md)
    python tools/convert_markup.py --check    # change nothing; exit 1 naming each file that would change

exercises/ and book/exercises/ are generated from solutions/: run `make exercises` afterwards.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import latexcodec  # noqa: F401  (registers the "ulatex" codec)
from pybtex.database import parse_file
from sphinx.util.nodes import _make_id  # the ids Sphinx gives glossary terms

ROOT = Path(__file__).resolve().parent.parent
BIB = Path("book/references.bib")
REFERENCES = Path("book/references.md")
GLOSSARY = Path("book/glossary.md")
# Keys renamed in references.bib: old citations are rewritten to the new key.
KEY_RENAMES = {"pang2004": "pang2005"}  # "Seeing stars" is ACL 2005 (issue 12)

# A role, not the name of one shown as code (`{cite:t}`).
ROLE = re.compile(r"(?<!`)\{(?P<role>cite(?::[a-z]+)?|term|doc)\}`(?P<body>[^`]+)`")
CITATION_LINK = re.compile(
    r"\[(?P<text>[^\]]+)\]\((?P<path>[^)\s#]*references\.md)#(?P<key>[^)\s]+)\)")
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
DOUBLE_BACKTICK_SPAN = re.compile(r"``.+?``")
FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")
# Directives whose body is code, not markdown.
CODE_DIRECTIVES = ("{code-cell}", "{code-block}", "{code}", "{literalinclude}", "{math}")
HEADER = """\
# References

Every paper cited in the course, with a link to it where one exists. The chapters cite each
one by author and year; the citation links to its entry here.

<!-- Generated from references.bib by tools/convert_markup.py: edit references.bib, then run
     `make markup`. -->
"""


class MarkupError(ValueError):
    """A role the tool cannot convert (unknown key, term or document)."""


@dataclass
class Entry:
    key: str
    label: str  # "Bahdanau et al."
    year: str  # "2015", or "2014a" when needed
    sort: tuple
    authors: list[str]
    fields: dict[str, str]
    text: str = ""  # the formatted bibliography entry (Markdown)


def latex(text: str) -> str:
    """BibTeX field text as plain Unicode: accents decoded, protecting braces removed."""
    text = codecs.decode(text, "ulatex")
    return re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()


def person_name(person) -> str:
    return latex(" ".join(person.first_names + person.middle_names + person.prelast_names
                          + person.last_names + person.lineage_names))


def join_names(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + ", and " + names[-1]


def load_bibliography(root: Path) -> dict[str, Entry]:
    """Every entry of references.bib, with its author-year label and formatted text."""
    bib = parse_file(str(root / BIB), bib_format="bibtex")
    entries = {}
    for key, entry in bib.entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        if not people:
            raise MarkupError(f"{BIB}: {key} has no author")
        last = [latex(" ".join(p.prelast_names + p.last_names)) for p in people]
        label = (last[0] if len(last) == 1 else f"{last[0]} and {last[1]}" if len(last) == 2
                 else f"{last[0]} et al.")
        fields = {name: latex(value) for name, value in entry.fields.items()}
        entries[key] = Entry(key=key, label=label, year=fields["year"],
                             sort=(last[0].lower(), fields["year"], fields["title"].lower()),
                             authors=[person_name(p) for p in people], fields=fields)
    # Two papers with the same label and year: 2014a, 2014b (in the order of their titles).
    groups: dict[tuple, list[Entry]] = {}
    for entry in entries.values():
        groups.setdefault((entry.label, entry.year), []).append(entry)
    for group in groups.values():
        if len(group) > 1:
            for letter, entry in zip("abcdefghij", sorted(group, key=lambda e: e.sort), strict=False):
                entry.year += letter
    for entry in entries.values():
        entry.text = format_entry(entry)
    return entries


def format_entry(entry: Entry) -> str:
    fields = entry.fields
    venue = fields.get("booktitle") or fields.get("journal") or fields.get("publisher", "")
    if fields.get("volume"):
        venue += f", {fields['volume']}"
        if fields.get("number"):
            venue += f"({fields['number']})"
    parts = [f"{join_names(entry.authors)} ({entry.year}).", f"{fields['title']}."]
    if venue:
        where = f"*{venue}*" + (f", pages {fields['pages']}" if fields.get("pages") else "")
        parts.append(("In " if fields.get("booktitle") else "") + where + ".")
    if fields.get("note"):
        parts.append(fields["note"].rstrip(".") + ".")
    if fields.get("url"):
        parts.append(f"<{fields['url']}>")
    return " ".join(parts)


def references_page(entries: dict[str, Entry]) -> str:
    blocks = [HEADER]
    for entry in sorted(entries.values(), key=lambda e: e.sort):
        blocks.append(f"({entry.key})=\n{entry.text}\n")
    return "\n".join(blocks)


def glossary_terms(root: Path) -> dict[str, str]:
    """The terms of book/glossary.md's glossary directive (unindented lines inside it), by
    their lower-case spelling (Sphinx matches {term} without case)."""
    text = (root / GLOSSARY).read_text(encoding="utf-8")
    block = re.search(r"^(`{3,}|:{3,})\{glossary\}[^\n]*\n(?P<body>.*?)^\1\s*$", text, re.S | re.M)
    if not block:
        raise MarkupError(f"{GLOSSARY} has no glossary directive")
    return {line.strip().lower(): line.strip() for line in block["body"].splitlines()
            if line.strip() and not line[0].isspace() and not line.startswith(":")}


def term_anchor(term: str) -> str:
    """The id Sphinx's glossary gives a term: "term-bidirectional-RNN" (sphinx.util.nodes.make_id)."""
    return _make_id(f"term-{term}")


def relative(target: Path, source: Path) -> str:
    """Path of repository file `target` as seen from repository file `source`."""
    return Path(os.path.relpath(target, source.parent)).as_posix()


def document_title(path: Path, text: str) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        text = "".join(next(c["source"] for c in cells if c["cell_type"] == "markdown"))
    heading = re.search(r"^#\s+(.+)$", text, re.M)
    return heading.group(1).strip() if heading else path.stem


class Converter:
    def __init__(self, root: Path):
        self.root = root
        self.entries = load_bibliography(root)
        self.terms = glossary_terms(root)
        self.generated = {REFERENCES: references_page(self.entries)}  # written by this tool

    def read(self, path: Path) -> str | None:
        if path in self.generated:
            return self.generated[path]
        return (self.root / path).read_text(encoding="utf-8") if (self.root / path).is_file() else None

    # -- roles ---------------------------------------------------------------------------
    def cite_link(self, key: str, narrative: bool, source: Path) -> str:
        """One citation: [Bahdanau et al. (2015)](...), or [Bahdanau et al., 2015](...) in parentheses."""
        key = KEY_RENAMES.get(key, key)
        if key not in self.entries:
            raise MarkupError(f"{source}: cites {key!r}, which is not in {BIB}")
        entry = self.entries[key]
        text = f"{entry.label} ({entry.year})" if narrative else f"{entry.label}, {entry.year}"
        return f"[{text}]({relative(REFERENCES, source)}#{key})"

    def cite(self, keys: list[str], narrative: bool, source: Path) -> str:
        links = [self.cite_link(key, narrative, source) for key in keys]
        if narrative:
            return join_names(links)
        return "(" + "; ".join(links) + ")"

    def term(self, body: str, source: Path) -> str:
        match = EXPLICIT.match(body)
        text, term = (match["text"], match["target"]) if match else (body, body)
        spelling = self.terms.get(term.strip().lower())
        if spelling is None:
            raise MarkupError(f"{source}: {{term}}`{body}`: {term!r} is not in {GLOSSARY}")
        return f"[{text}]({relative(GLOSSARY, source)}#{term_anchor(spelling)})"

    def doc(self, body: str, source: Path) -> str:
        match = EXPLICIT.match(body)
        text, target = (match["text"], match["target"]) if match else (None, body)
        base = Path(target.lstrip("/")) if target.startswith("/") else source.parent / target
        base = Path(os.path.normpath(base))
        if base.parts[:2] == ("book", "exercises"):  # an exercise's page: link its notebook
            base = Path("exercises", *base.parts[2:])
        candidates = [base] if base.suffix in (".ipynb", ".md") else [
            base.with_name(base.name + ".ipynb"), base.with_name(base.name + ".md")]
        found = next((c for c in candidates if self.read(c) is not None), None)
        if found is None:
            raise MarkupError(f"{source}: {{doc}}`{body}`: no file {candidates[0]} or .md")
        if text is None:
            text = document_title(found, self.read(found))
        return f"[{text}]({relative(found, source)})"

    def role(self, match: re.Match, source: Path) -> str:
        role, body = match["role"], match["body"]
        if role.startswith("cite"):
            kind = role.partition(":")[2] or "p"
            if kind not in ("p", "t", "ps", "ts"):
                raise MarkupError(f"{source}: {{{role}}} is not supported (use cite:p or cite:t)")
            return self.cite([k.strip() for k in body.split(",")], kind.startswith("t"), source)
        return self.term(body, source) if role == "term" else self.doc(body, source)

    def citation_link(self, match: re.Match, source: Path) -> str:
        """An already converted citation: its text and path, recomputed from the bib file."""
        return self.cite_link(match["key"], match["text"].rstrip().endswith(")"), source)

    # -- text ----------------------------------------------------------------------------
    def convert_inline(self, text: str, source: Path) -> str:
        spans = []

        def protect(match):
            spans.append(match.group(0))
            return f"\x00{len(spans) - 1}\x00"

        text = DOUBLE_BACKTICK_SPAN.sub(protect, text)
        text = CITATION_LINK.sub(lambda m: self.citation_link(m, source), text)
        text = ROLE.sub(lambda m: self.role(m, source), text)
        return re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], text)

    def convert_markdown(self, text: str, source: Path) -> str:
        """Convert the roles of one markdown text, outside fenced code."""
        out, chunk, stack = [], [], []  # stack of open fences: (fence, is_code)

        def flush():
            if chunk:
                out.append(self.convert_inline("".join(chunk), source))
                chunk.clear()

        for line in text.splitlines(keepends=True):
            fence = FENCE.match(line.rstrip("\n"))
            in_code = bool(stack) and stack[-1][1]  # nothing opens inside a code fence
            if fence:
                mark, info = fence["fence"], fence["info"].strip()
                if stack and not info and mark[0] == stack[-1][0][0] and len(mark) >= len(stack[-1][0]):
                    (out if stack.pop()[1] else chunk).append(line)  # a closing fence
                    continue
                if not in_code:
                    in_code = not info.startswith("{") or info.startswith(CODE_DIRECTIVES)
                    stack.append((mark, in_code))
                    if in_code:
                        flush()
            (out if in_code else chunk).append(line)
        flush()
        return "".join(out)

    # -- files ---------------------------------------------------------------------------
    def convert_file(self, path: Path) -> str:
        """The converted text of one repository file (a notebook or a .md page)."""
        original = (self.root / path).read_text(encoding="utf-8")
        if path.suffix == ".md":
            return self.convert_markdown(original, path)
        notebook = json.loads(original)
        changed = False
        for cell in notebook["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            source = cell["source"]
            text = "".join(source) if isinstance(source, list) else source
            new = self.convert_markdown(text, path)
            if new != text:
                cell["source"] = new.splitlines(keepends=True) if isinstance(source, list) else new
                changed = True
        if not changed:
            return original
        # The layout nbformat.write uses, so that only the converted lines differ.
        return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def course_sources(root: Path) -> list[Path]:
    """The files whose markdown learners read and that are not generated."""
    files = [*sorted(root.glob("notebooks/*.ipynb")), *sorted(root.glob("notebooks/*.md")),
             *sorted(root.glob("solutions/*.ipynb")), *sorted(root.glob("book/*.md"))]
    return [f.relative_to(root) for f in files if f.relative_to(root) != REFERENCES]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, help="default: every course source")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        converter = Converter(root)
        files = ([Path(os.path.relpath(f.resolve(), root)) for f in args.files] if args.files
                 else course_sources(root))
        expected = dict(converter.generated)
        for path in files:
            expected[path] = converter.convert_file(path)
    except MarkupError as error:
        print(f"convert_markup: {error}", file=sys.stderr)
        return 2
    stale = [path for path, text in expected.items()
             if not (root / path).exists() or (root / path).read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path} has markup that JupyterLab cannot render, or a stale citation")
        if stale:
            print("Run `make markup` (python tools/convert_markup.py), then `make exercises`.")
            return 1
        print(f"{len(expected)} files read the same in JupyterLab and on the site")
        return 0
    for path in stale:
        (root / path).write_text(expected[path], encoding="utf-8")
        print(f"converted {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
