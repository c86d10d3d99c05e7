"""The course in its own JupyterLab, as a learner sees it after `make lab` (Playwright + chromium).

Starts this environment's JupyterLab on a free port (with --allow-root only when run as root,
a random token, fresh user settings, no kernel: nothing is run), after tools/setup_lab.py has
done what `make lab` does (trust the notebooks, open .md rendered). Then it opens every
chapter, solution and exercise, and the Markdown pages a learner reaches from them, renders
every markdown cell (JupyterLab renders lazily: each cell is scrolled into view and read once
its renderer has drawn it), and fails on

- MyST left raw on screen: a role ({cite}, {term}, {doc}, ...) or a directive shown as code;
- what jupyterlab-myst shows for markup it cannot resolve: "Citation Not Found", "Cross
  Reference Not Found", "Unknown Directive", a term linked to "#";
- a relative link whose target file does not exist.

It also checks that the 4.4 Plotly figure shows without running the notebook (trusted), and
that nbgrader's instructor tools are hidden while Validate and the Assignment List stay.
Screenshots go to _build/screenshots/jupyterlab/. Run it against another copy of the course
(e.g. one converted by tools/convert_markup.py) with ATTENTION_COURSE_LAB_ROOT=/path/to/copy.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
COURSE = Path(os.environ.get("ATTENTION_COURSE_LAB_ROOT", ROOT)).resolve()
SCREENSHOTS = ROOT / "_build" / "screenshots" / "jupyterlab"

pytestmark = pytest.mark.browser

NOTEBOOKS = [p.relative_to(COURSE).as_posix() for folder in ("notebooks", "solutions", "exercises")
             for p in sorted((COURSE / folder).glob("*.ipynb"))]
# Markdown pages a learner opens in JupyterLab: chapter 4.7, and the pages the notebooks link to.
PAGES = [p.relative_to(COURSE).as_posix() for p in sorted((COURSE / "notebooks").glob("*.md"))] + [
    f"book/{name}.md" for name in ("references", "glossary", "notation")
    if (COURSE / "book" / f"{name}.md").exists()]

RAW_ROLE = re.compile(r"\{(cite|term|doc|ref|numref|eq|download|glue|abbr)(:[a-z]+)?\}")
RAW_DIRECTIVE = re.compile(r"(```|:::)\s*\{[a-z-]+\}")
# What jupyterlab-myst draws for markup it cannot resolve.
UNRESOLVED_TITLES = ("Citation Not Found", "Cross Reference Not Found")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """This environment's JupyterLab on the course, as `make lab` starts it; yields (url, token)."""
    subprocess.run([sys.executable, str(ROOT / "tools" / "setup_lab.py"), "--root", str(COURSE)],
                   check=True, capture_output=True)
    home = tmp_path_factory.mktemp("lab")
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={COURSE}",
               # no kernel starts: the test reads stored outputs, as a learner does before running
               "--KernelSpecManager.allowed_kernelspecs=['no-kernel-in-this-test']"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(home / "jupyterlab.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited: {(home / 'jupyterlab.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 120 s")
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()



def open_in_lab(browser, lab, path):
    url, token = lab
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/lab/tree/{path}?token={token}&reset", wait_until="domcontentloaded")
    selector = (".jp-NotebookPanel .jp-Notebook .jp-Cell" if path.endswith(".ipynb")
                else ".jp-RenderedMarkdown, .jp-MainAreaWidget .myst")
    page.wait_for_selector(selector, timeout=90000)
    no_kernel = page.locator(".jp-Dialog button", has_text="No Kernel")
    try:
        no_kernel.first.click(timeout=5000)  # the kernel picker: this test runs nothing
    except Exception:  # noqa: BLE001 (no dialog: nothing to dismiss)
        pass
    return page, errors


# Visits every cell of the open notebook from top to bottom (scrolling, so that JupyterLab
# attaches and renders it), waits for each markdown cell's renderer, and reports what is wrong.
READ_NOTEBOOK = """async (expected) => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const scroller = panel.querySelector('.jp-WindowedPanel-outer') || panel.querySelector('.jp-Notebook');
  const cells = [];
  for (let i = 0; i < expected.length; i++) {
    let cell = null;
    for (let tries = 0; tries < 200 && !cell; tries++) {
      cell = panel.querySelector(`.jp-Cell[data-windowed-list-index="${i}"]`);
      if (!cell) { scroller.scrollTop += scroller.clientHeight * 0.8; await sleep(50); }
    }
    if (!cell) { cells.push({index: i, missing: true}); continue; }
    cell.scrollIntoView({block: 'start'});
    if (expected[i] !== 'markdown') continue;
    let out = null;
    for (let tries = 0; tries < 100; tries++) {
      out = cell.querySelector('.jp-MarkdownOutput, .myst');
      if (out && (out.innerText.trim() || out.querySelector('img, svg, mjx-container'))) break;
      await sleep(50);
    }
    if (!out) { cells.push({index: i, unrendered: true}); continue; }
    await sleep(30);
    const clone = out.cloneNode(true);
    clone.querySelectorAll('pre, code, mjx-container, .MathJax').forEach(e => e.remove());
    cells.push({
      index: i,
      text: clone.innerText,
      codeLanguages: Array.from(out.querySelectorAll('code[class*="language-"]')).map(c => c.className),
      unresolved: Array.from(out.querySelectorAll('[title]')).map(e => e.title + ': ' + e.innerText.trim()),
      unknownDirectives: Array.from(out.querySelectorAll('summary')).map(s => s.innerText)
                              .filter(t => t.includes('Unknown Directive')),
      links: Array.from(out.querySelectorAll('a'))
                  .map(a => ({href: a.getAttribute('href'), text: a.innerText})),
    });
  }
  return cells;
}"""

READ_PAGE = """() => {
  const out = document.querySelector('.jp-MainAreaWidget:not(.lm-mod-hidden) .jp-RenderedMarkdown')
           || document.querySelector('.jp-MainAreaWidget:not(.lm-mod-hidden) .myst');
  const clone = out.cloneNode(true);
  clone.querySelectorAll('pre, code, mjx-container, .MathJax').forEach(e => e.remove());
  return [{index: 0, text: clone.innerText,
    codeLanguages: Array.from(out.querySelectorAll('code[class*="language-"]')).map(c => c.className),
    unresolved: Array.from(out.querySelectorAll('[title]')).map(e => e.title + ': ' + e.innerText.trim()),
    unknownDirectives: Array.from(out.querySelectorAll('summary')).map(s => s.innerText)
                            .filter(t => t.includes('Unknown Directive')),
    links: Array.from(out.querySelectorAll('a'))
                .map(a => ({href: a.getAttribute('href'), text: a.innerText}))}];
}"""


def link_problem(path: str, href: str | None, text: str) -> str | None:
    """What is wrong with one rendered link of file `path`, or None."""
    if href is None:
        return None
    if href == "#":
        return f"link {text!r} goes nowhere (an unresolved role?)"
    url = urlparse(href)
    if url.scheme in ("mailto", "data") or (url.scheme in ("http", "https") and url.hostname != "127.0.0.1"):
        return None  # external: `make linkcheck`
    if not url.path or href.startswith("#"):
        return None  # an anchor on the same page
    # jupyterlab-myst turns a relative link into the server's /files/<path from the root>.
    target_path = unquote(url.path)
    for prefix in ("/files/", "/lab/tree/"):
        if prefix in target_path:
            target = COURSE / target_path.split(prefix, 1)[1]
            break
    else:
        target = (COURSE / path).parent / target_path
    if not target.resolve().is_file():
        return f"link {text!r} -> {href} points to a file that does not exist"
    return None


def problems_in(path: str, cells: list[dict]) -> list[str]:
    problems = []
    for cell in cells:
        where = f"{path}, cell {cell['index']}"
        if cell.get("missing") or cell.get("unrendered"):
            problems.append(f"{where}: never rendered")
            continue
        for match in RAW_ROLE.finditer(cell["text"]):
            line = next(text for text in cell["text"].splitlines() if match.group(0) in text)
            problems.append(f"{where}: raw MyST role on screen: {line.strip()[:100]!r}")
        if RAW_DIRECTIVE.search(cell["text"]):
            problems.append(f"{where}: raw MyST directive on screen")
        problems += [f"{where}: directive shown as code ({lang})"
                     for lang in cell["codeLanguages"] if "{" in lang]
        problems += [f"{where}: {u!r}" for u in cell["unresolved"] if u.startswith(UNRESOLVED_TITLES)]
        problems += [f"{where}: {d!r}" for d in cell["unknownDirectives"]]
        problems += [f"{where}: {p}" for link in cell["links"]
                     if (p := link_problem(path, link["href"], link["text"]))]
    return problems


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / (name.replace("/", "__") + ".png")))


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_notebook_renders_in_jupyterlab(browser, lab, path):
    notebook = json.loads((COURSE / path).read_text(encoding="utf-8"))
    kinds = [cell["cell_type"] for cell in notebook["cells"]]
    page, errors = open_in_lab(browser, lab, path)
    try:
        screenshot(page, path)
        cells = page.evaluate(READ_NOTEBOOK, kinds)
        screenshot(page, path + "__end")
        assert len(cells) >= kinds.count("markdown"), f"{path}: only {len(cells)} cells were read"
        problems = problems_in(path, cells)
        assert not problems, "\n".join(problems)
        dirty = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-dirty").count()
        assert not dirty, f"{path} shows unsaved changes right after opening it"
        assert not errors, f"{path}: JavaScript errors {errors[:3]}"
    finally:
        page.close()


@pytest.mark.parametrize("path", PAGES)
def test_markdown_page_opens_rendered(browser, lab, path):
    page, errors = open_in_lab(browser, lab, path)
    try:
        page.wait_for_timeout(500)
        screenshot(page, path)
        problems = problems_in(path, page.evaluate(READ_PAGE))
        assert not problems, "\n".join(problems)
    finally:
        page.close()


def test_plotly_figure_shows_without_running(browser, lab):
    """Chapter 4.4's Plotly figure is stored HTML with scripts: it shows only in a trusted notebook."""
    path = "notebooks/ch4_4_visualizing_attention.ipynb"
    notebook = json.loads((COURSE / path).read_text(encoding="utf-8"))
    index = next(i for i, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code" and any(
        "plotly" in "".join(output.get("data", {}).get("text/html", "")) for output in cell["outputs"]))
    page, _ = open_in_lab(browser, lab, path)
    try:
        cell = page.locator(f".jp-NotebookPanel .jp-Cell[data-windowed-list-index='{index}']")
        for _ in range(200):  # scroll down until JupyterLab has attached the cell
            if cell.count():
                break
            page.evaluate("document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer')"
                          ".scrollTop += 600")
            page.wait_for_timeout(50)
        cell.scroll_into_view_if_needed()
        cell.locator(".js-plotly-plot .main-svg").first.wait_for(state="visible", timeout=30000)
        screenshot(page, "plotly_ch4_4")
    finally:
        page.close()


def test_learners_see_no_grading_tools(browser, lab):
    """nbgrader: Validate and the Assignment List stay; Formgrader, Create Assignment, Course List go."""
    page, _ = open_in_lab(browser, lab, "exercises/ex4_1_bahdanau_vs_luong.ipynb")
    try:
        page.locator(".jp-NotebookPanel-toolbar", has_text="Validate").first.wait_for(timeout=20000)
        assert page.locator(".jp-SideBar .lm-TabBar-tab", has_text="Create Assignment").count() == 0, \
            "the Create Assignment sidebar is shown to learners"
        page.locator(".lm-MenuBar-item", has_text="Nbgrader").first.click()
        items = page.locator(".lm-Menu .lm-Menu-itemLabel").all_inner_texts()
        screenshot(page, "nbgrader_menu")
        page.keyboard.press("Escape")
        assert "Assignment List" in items, f"the Nbgrader menu lacks the Assignment List: {items}"
        shown = [item for item in items if re.search(r"Formgrader|Course List|Create Assignment", item)]
        assert not shown, f"learners see instructor tools in the Nbgrader menu: {shown}"
    finally:
        page.close()
