"""Every measured number in the course's prose comes from an output, or is cited.

For each markdown cell of a chapter, solution or exercise notebook, and each book page,
every measurement-like number (a decimal, a percentage, a number with a unit such as s,
ms, MiB, x, nats or bits) must be

- printed by the notebook's stored outputs, at the precision the prose states (0.91 is
  sourced by an output 0.9132; 94 % by 0.941 or 94.1; about 20 s by 17.9 s, since 20
  states tens), or
- written as a literal in the notebook's own code (a size or threshold the code sets
  or asserts, e.g. ``lr=1e-2`` or ``assert acc >= 0.99``), or
- in a sentence that cites a paper ({cite:p}`key`, {cite:t}`key`, or a link to the
  bibliography), or that cites ``bench/report.md`` (then the number must be in that
  report), or
- on the allow-list below, with the reason it needs no source.

Not judged: math ($...$), inline code, code blocks, link targets, chapter and section
numbers (4.1-4.7, "Figure 2"), versions (3.11, 2.13.0), and integers without a unit
(counts and sizes). Exercises are stored without outputs: their numbers come from their
solution's outputs. Book pages summarise notebooks: their numbers come from the
chapters' and solutions' outputs.

    python tools/provenance.py [FILE ...]     # default: every notebook and book page

prints one line per unsourced number (file, cell, number, sentence); exits 1 if any.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Numbers that need no output, by the file they appear in ("*": anywhere). Keep it
# short and say why each one is here.
ALLOW: dict[str, dict[str, str]] = {
    "*": {
        "90 s": "the time budget of one chapter (a requirement, not a measurement)",
        "30 s": "nbgrader's default cell time limit (c.Execute.timeout), a setting",
        "10 minutes": "the course's time budget for all notebooks (a requirement)",
        "20 minutes": "the CI budget (a requirement)",
    },
}

UNITS = {
    # unit -> family (a value may be printed in another unit of its family)
    "%": "percent",
    "percent": "percent",
    "pt": "percent",
    "points": "percent",
    "x": "ratio",
    "×": "ratio",
    "times": "ratio",
    "s": "time",
    "seconds": "time",
    "second": "time",
    "sec": "time",
    "ms": "time",
    "us": "time",
    "µs": "time",
    "μs": "time",
    "ns": "time",
    "min": "time",
    "minutes": "time",
    "minute": "time",
    "B": "memory",
    "bytes": "memory",
    "kB": "memory",
    "KiB": "memory",
    "KB": "memory",
    "MB": "memory",
    "MiB": "memory",
    "GB": "memory",
    "GiB": "memory",
    "bits": "information",
    "bit": "information",
    "nats": "information",
    "nat": "information",
    "GFLOP/s": "rate",
}
TIME_SCALE = {
    "s": 1,
    "seconds": 1,
    "second": 1,
    "sec": 1,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ns": 1e-9,
    "min": 60,
    "minutes": 60,
    "minute": 60,
}
MEM_SCALE = {
    "B": 1,
    "bytes": 1,
    "kB": 1e3,
    "KB": 1e3,
    "KiB": 2**10,
    "MB": 1e6,
    "MiB": 2**20,
    "GB": 1e9,
    "GiB": 2**30,
}

_UNIT_RE = "|".join(sorted((re.escape(u) for u in UNITS), key=len, reverse=True))
NUMBER = re.compile(
    r"(?<![\w.,/-])(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?(?P<exp>[eE][-+]?\d+)?"
    rf"(?:\s?(?P<unit>{_UNIT_RE})(?!\w)|(?![\w.]\d|\.\d|\w))"
)
OUTPUT_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
APPROX = re.compile(r"(about|around|roughly|nearly|approximately|some|~|≈)\s*$", re.I)
# Words that make the next decimal a label, not a measurement.
LABEL_BEFORE = re.compile(
    r"\b(chapters?|exercises?|sections?|§|figure|fig\.|table|eq\.|equation|python|"
    r"pytorch|torch|version|v|sphinx|jupyterlab|jupyter book|nbgrader|nbval|nbdev|"
    r"myst-nb|plotly|sacrebleu|hypothesis|ruff|numpy|matplotlib)[\s*_]*$",
    re.I,
)
LABEL_NEAR = re.compile(
    r"\b(python|pytorch|torch|version|chapters?|exercises?)\b", re.I
)
# Sentences whose numbers are estimates for the reader, not measurements.
ESTIMATE = re.compile(r"minutes to read|\*\*Time:\*\*", re.I)
CHAPTER_NUMBERS = {f"4.{i}" for i in range(1, 8)}


@dataclass
class Finding:
    path: str
    cell: int
    number: str
    sentence: str

    def __str__(self) -> str:
        where = f"{self.path}: cell {self.cell}"
        return f"{where}: {self.number!r} has no source: {self.sentence}"


# ---------------------------------------------------------------- reading the files


def _cells(path: Path) -> list[dict]:
    if path.suffix == ".ipynb":
        return json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [{"cell_type": "markdown", "source": path.read_text(encoding="utf-8")}]


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def _output_text(cells: list[dict]) -> str:
    parts = []
    for cell in cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                parts.append(_text(out["text"]))
            data = out.get("data", {})
            for mime in ("text/plain", "text/markdown", "text/latex"):
                if mime in data:
                    parts.append(_text(data[mime]))
            html = _text(data.get("text/html", ""))
            if html and len(html) < 200_000:
                parts.append(re.sub(r"<[^>]+>", " ", html))
    return "\n".join(parts)


def _code_literals(cells: list[dict]) -> set[str]:
    literals = set()
    for cell in cells:
        if cell["cell_type"] == "code":
            for m in OUTPUT_NUMBER.finditer(_text(cell["source"])):
                literals.add(m.group().replace(",", ""))
    return literals


def _numbers(text: str) -> list[float]:
    values = []
    for m in OUTPUT_NUMBER.finditer(text):
        token = m.group()
        for candidate in {token.replace(",", ""), *token.split(",")}:
            try:
                values.append(float(candidate))
            except ValueError:
                pass
    return values


# ---------------------------------------------------------------- what sources a file


def sources_for(path: Path, root: Path = ROOT) -> tuple[str, set[str], list[dict]]:
    """Output text, code literals and cells that source the prose of ``path``."""
    path = path.resolve()
    rel = path.relative_to(root).as_posix()
    if rel.startswith("exercises/") or rel.startswith("book/exercises/"):
        owners = [root / "solutions" / (path.stem + ".ipynb")]
        if path.suffix == ".ipynb":
            owners.append(path)
    elif path.suffix == ".ipynb":
        owners = [path]
    else:  # a book page (or the summary chapter): what the chapters and solutions print
        owners = sorted((root / "notebooks").glob("*.ipynb")) + sorted(
            (root / "solutions").glob("*.ipynb")
        )
    text, literals = [], set()
    for owner in owners:
        if owner.exists():
            cells = _cells(owner)
            text.append(_output_text(cells))
            literals |= _code_literals(cells)
    return "\n".join(text), literals, _cells(path)


# ---------------------------------------------------------------- the prose


def _prose(markdown: str) -> str:
    """Markdown without math, code, link targets and markup; citations become [CITE]."""
    text = markdown
    # code blocks; a directive's body ({note}, {warning}, ...) is prose and stays
    text = re.sub(
        r"^(```|~~~)(?!\s*\{)[^\n]*\n.*?^\1\s*$", " ", text, flags=re.M | re.S
    )
    text = re.sub(r"^(```|:::)\s*\{[^}]*\}[^\n]*$", " ", text, flags=re.M)
    text = re.sub(r"^(```|:::)\s*$", " ", text, flags=re.M)
    text = re.sub(r"^:[\w-]+:.*$", " ", text, flags=re.M)  # directive options
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " MATH ", text, flags=re.S)
    text = re.sub(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", " MATH ", text, flags=re.S)
    text = re.sub(r"(?<![\\$])\$(?!\s)[^$\n]+?(?<![\s\\])\$", " MATH ", text)
    text = re.sub(r"\{(cite|footcite)(:\w+)?\}`[^`]*`", " [CITE] ", text)
    text = re.sub(
        r"\{[\w:-]+\}`([^`<]*?)(?:\s*<[^`]*>)?`", r"\1", text
    )  # {term}`x <y>`
    text = re.sub(r"`bench/report\.md`", " [BENCH] ", text)
    text = re.sub(r"``[^`]+``|`[^`\n]+`", " CODE ", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)  # images

    def link(m: re.Match) -> str:
        target = m.group(2)
        if "references" in target or "bibliography" in target:
            return f"{m.group(1)} [CITE]"
        if "bench/report.md" in target or "bench/report" in target:
            return f"{m.group(1)} [BENCH]"
        return m.group(1)

    text = re.sub(r"\[([^\]]*)\]\(([^)]*)\)", link, text)
    text = re.sub(r"<https?://[^>]+>|https?://\S+", " URL ", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"bench/report\.md", " [BENCH] ", text)
    return text


_NO_SPLIT = r"(?<!\bal)(?<!e\.g)(?<!i\.e)(?<!\bcf)(?<!\bvs)(?<!Fig)(?<!\bEq)(?<!\bp)"
SENTENCE_END = re.compile(
    _NO_SPLIT + r"(?<=[.!?])\s+(?=[A-Z(\[*_])|\n\s*\n|\n(?=\s*[-*|]|\s*\d+\.)"
)


def sentences(markdown: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(_prose(markdown)) if s and s.strip()]


@dataclass
class Claim:
    token: str  # as written, e.g. "94.1 %"
    value: float
    half_width: (
        float  # the stated precision: a source within value ± half_width matches
    )
    unit: str | None


def claims(sentence: str) -> list[Claim]:
    found = []
    for m in NUMBER.finditer(sentence):
        num, frac, exp, unit = (
            m.group("num"),
            m.group("frac"),
            m.group("exp"),
            m.group("unit"),
        )
        if not (frac or exp or unit):
            continue  # a count or a size: not judged
        before = sentence[: m.start()]
        token = m.group().strip()
        if frac and not exp and not unit and f"{num}{frac}" in CHAPTER_NUMBERS:
            continue  # a chapter or exercise number
        if frac and not exp and not unit and LABEL_BEFORE.search(before):
            continue  # "chapter 4.3", "Figure 2.1", "Python 3.11", "4.2 and 4.3"
        after = sentence[m.end() :]
        version_range = re.match(r"\s*[–-]\s*\d+\.\d+", after) and LABEL_NEAR.search(
            before[-40:]
        )
        if frac and not unit and version_range:
            continue  # the start of a range of versions, "Python 3.11 (3.11–3.13 work)"
        if re.search(r"\d\s*[–-]\s*$", before) and frac and not unit:
            continue  # the end of a range of versions or chapters, "3.11–3.13"
        digits = num.replace(",", "")
        mantissa = float(digits + (frac or ""))
        value = mantissa * (10 ** int(exp[1:]) if exp else 1)
        if frac:
            step = 10 ** -(len(frac) - 1)
        elif APPROX.search(before) and digits.rstrip("0") != digits:
            step = 10 ** (len(digits) - len(digits.rstrip("0")))
        else:
            step = 1
        if exp:
            step *= 10 ** int(exp[1:])
        found.append(Claim(token, value, step / 2, unit))
    return found


def _scales(unit: str | None) -> list[float]:
    family = UNITS.get(unit or "", None)
    if family == "percent":
        return [1, 100]
    if family == "time":
        base = TIME_SCALE[unit]
        return [b / base for b in set(TIME_SCALE.values())]
    if family == "memory":
        base = MEM_SCALE[unit]
        return [b / base for b in set(MEM_SCALE.values())]
    return [1]


def sourced(claim: Claim, values: list[float]) -> bool:
    tol = claim.half_width * (1 + 1e-9) + 1e-12
    for scale in _scales(claim.unit):
        for v in values:
            if abs(v * scale - claim.value) <= tol:
                return True
    return False


def _allowed(rel: str, claim: Claim) -> bool:
    token = re.sub(r"\s+", " ", claim.token)
    for pattern, entries in ALLOW.items():
        if (pattern == "*" or Path(rel).match(pattern)) and token in entries:
            return True
    return False


def check(path: Path, root: Path = ROOT) -> list[Finding]:
    """The unsourced numbers of one notebook or page (``root``: the repository)."""
    path = Path(path).resolve()
    outputs, literals, cells = sources_for(path, root)
    values = _numbers(outputs)
    report = root / "bench" / "report.md"
    bench_values = (
        _numbers(report.read_text(encoding="utf-8")) if report.exists() else []
    )
    rel = path.relative_to(root).as_posix()
    findings = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        # a hand-worked example's numbers count when the next code cell prints or
        # asserts them
        following = next(
            (c for c in cells[index + 1 :] if c["cell_type"] == "code"), None
        )
        local_values = values
        if following is not None:
            local_values = values + _numbers(_text(following["source"]))
        for sentence in sentences(_text(cell["source"])):
            if "[CITE]" in sentence or ESTIMATE.search(sentence):
                continue
            for claim in claims(sentence):
                if "[BENCH]" in sentence:
                    if sourced(claim, bench_values):
                        continue
                elif sourced(claim, local_values):
                    continue
                plain = claim.token.split()[0].replace(",", "").rstrip("x×%")
                if re.sub(r"[^\d.eE+-]", "", plain) in literals:
                    continue
                if _allowed(rel, claim):
                    continue
                short = re.sub(r"\s+", " ", sentence)
                findings.append(Finding(rel, index, claim.token, short[:200]))
    return findings


def default_files() -> list[Path]:
    files = []
    for pattern in (
        "notebooks/*.ipynb",
        "notebooks/*.md",
        "solutions/*.ipynb",
        "exercises/*.ipynb",
        "book/*.md",
        "book/exercises/*.md",
    ):
        files += sorted(ROOT.glob(pattern))
    return files


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or default_files()
    findings = [f for path in files for f in check(path)]
    for finding in findings:
        print(finding)
    print(f"{len(findings)} unsourced number(s) in {len(files)} file(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
