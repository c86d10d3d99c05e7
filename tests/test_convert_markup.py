"""tools/convert_markup.py: MyST roles become links that JupyterLab and the site both follow."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from tool_loader import load_tool

ROOT = Path(__file__).resolve().parent.parent
convert_markup = load_tool("convert_markup")

MARKDOWN = """# 4.9 A test chapter

As {cite:t}`bahdanau2015` showed, attention helps {cite:p}`cho2014encdec,sutskever2014`;
the {term}`context vector` and {term}`padding masks <padding mask>` and a
{term}`bidirectional RNN`. See {doc}`Exercise 4.1 <../book/exercises/ex4_1_bahdanau_vs_luong>`,
the {doc}`bibliography <../book/references>` and {doc}`../book/notation`.
Pang and Lee, cited under their old key: {cite:t}`pang2004`.

```{note}
Inside a note, {cite:p}`luong2015` is converted too.
```

```python
print("{cite:t}`bahdanau2015` in a code block stays")
```

To cite, write ``{cite:t}`key` `` (shown as code, left alone); `{cite:t}` or `{note}` too.
"""
CODE = 'text = "{cite:t}`bahdanau2015`"  # a string in code, never touched\nprint(text)'


@pytest.fixture
def course(tmp_path):
    """A small course: the real bib file and glossary, one notebook, one exercise."""
    for name in ["book/references.bib", "book/glossary.md", "book/notation.md"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "exercises").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "exercises" / "ex4_1_bahdanau_vs_luong.ipynb")
    (tmp_path / "notebooks").mkdir()
    notebook = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell(CODE, execution_count=1, outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="{cite:t}`bahdanau2015`\n")])
    notebook.cells = [nbformat.v4.new_markdown_cell(MARKDOWN), code]
    nbformat.write(notebook, tmp_path / "notebooks" / "ch4_9_test.ipynb")
    (tmp_path / "notebooks" / "ch4_9_page.md").write_text(MARKDOWN, encoding="utf-8")
    return tmp_path


def converted_markdown(course):
    cells = json.loads((course / "notebooks" / "ch4_9_test.ipynb").read_text())["cells"]
    return "".join(cells[0]["source"]), cells[1]


def test_roles_become_links_relative_to_the_notebook(course):
    assert convert_markup.main(["--root", str(course)]) == 0
    text, _ = converted_markdown(course)
    ref = "../book/references.md"
    assert f"As [Bahdanau et al. (2015)]({ref}#bahdanau2015) showed" in text
    assert (f"helps ([Cho et al., 2014a]({ref}#cho2014encdec); "
            f"[Sutskever et al., 2014]({ref}#sutskever2014));") in text
    assert "the [context vector](../book/glossary.md#term-context-vector)" in text
    assert "[padding masks](../book/glossary.md#term-padding-mask)" in text
    assert "[bidirectional RNN](../book/glossary.md#term-bidirectional-RNN)" in text  # Sphinx keeps case
    assert "See [Exercise 4.1](../exercises/ex4_1_bahdanau_vs_luong.ipynb)," in text
    assert f"the [bibliography]({ref}) and [Notation](../book/notation.md)." in text
    assert f"[Pang and Lee (2005)]({ref}#pang2005)" in text
    assert f"Inside a note, ([Luong et al., 2015]({ref}#luong2015)) is converted too." in text
    assert 'print("{cite:t}`bahdanau2015` in a code block stays")' in text
    assert "``{cite:t}`key` ``" in text
    assert "`{cite:t}` or `{note}` too." in text


def test_code_cells_and_outputs_are_untouched(course):
    before = json.loads((course / "notebooks" / "ch4_9_test.ipynb").read_text())
    convert_markup.main(["--root", str(course)])
    after = json.loads((course / "notebooks" / "ch4_9_test.ipynb").read_text())
    assert after["cells"][1] == before["cells"][1]
    assert after["metadata"] == before["metadata"]
    assert after["cells"][0]["metadata"] == before["cells"][0]["metadata"]


def test_a_markdown_page_is_converted_like_a_notebook(course):
    convert_markup.main(["--root", str(course)])
    page = (course / "notebooks" / "ch4_9_page.md").read_text()
    text, _ = converted_markdown(course)
    assert page == text


def test_running_twice_changes_nothing(course, capsys):
    assert convert_markup.main(["--root", str(course)]) == 0
    snapshot = {p: p.read_bytes() for p in course.rglob("*") if p.is_file()}
    assert convert_markup.main(["--root", str(course), "--check"]) == 0
    assert convert_markup.main(["--root", str(course)]) == 0
    assert snapshot == {p: p.read_bytes() for p in course.rglob("*") if p.is_file()}


def test_check_names_the_files_left_to_convert(course, capsys):
    assert convert_markup.main(["--root", str(course), "--check"]) == 1
    out = capsys.readouterr().out
    assert "notebooks/ch4_9_test.ipynb" in out and "notebooks/ch4_9_page.md" in out
    assert "{cite:t}" in (course / "notebooks" / "ch4_9_test.ipynb").read_text()  # --check wrote nothing


def test_a_citation_text_follows_the_bib_file(course):
    """A converted citation whose text went stale (here: a wrong year) is rewritten from the bib file."""
    convert_markup.main(["--root", str(course)])
    page = course / "notebooks" / "ch4_9_page.md"
    page.write_text(page.read_text().replace("Bahdanau et al. (2015)", "Bahdanau et al. (2014)"))
    assert convert_markup.main(["--root", str(course), "--check"]) == 1
    convert_markup.main(["--root", str(course)])
    assert "[Bahdanau et al. (2015)](../book/references.md#bahdanau2015)" in page.read_text()


@pytest.mark.parametrize("bad, message", [
    ("{cite:t}`nosuchkey2099`", "'nosuchkey2099', which is not in"),
    ("{term}`no such term`", "is not in book/glossary.md"),
    ("{doc}`../book/nowhere`", "no file book/nowhere.ipynb"),
    ("{cite:alp}`bahdanau2015`", "not supported"),
])
def test_an_unknown_target_stops_the_conversion(course, capsys, bad, message):
    (course / "notebooks" / "ch4_9_page.md").write_text(f"Text {bad}.\n")
    assert convert_markup.main(["--root", str(course)]) == 2
    assert message in capsys.readouterr().err


def test_the_bibliography_page_anchors_every_entry(course):
    convert_markup.main(["--root", str(course)])
    page = (course / "book" / "references.md").read_text()
    entries = convert_markup.load_bibliography(course)
    for key in entries:
        assert f"\n({key})=\n" in page, key
    assert "Bart van Merriënboer" in page and "Łukasz Kaiser" in page and "Popović" in page
    assert "{" not in page.replace("(", "")  # no BibTeX braces left
    assert entries["cho2014encdec"].year == "2014a" and entries["cho2014properties"].year == "2014b"
    assert entries["sutskever2014"].year == "2014"


def test_venues_and_years_of_the_bib_file():
    """Issue 12: "Seeing stars" is ACL 2005; NeurIPS was called NIPS before 2018."""
    entries = convert_markup.load_bibliography(ROOT)
    assert "pang2004" not in entries
    assert entries["pang2005"].year == "2005" and "Seeing Stars" in entries["pang2005"].fields["title"]
    for entry in entries.values():
        venue = entry.fields.get("booktitle", "")
        if "Neural Information Processing Systems" in venue:
            expected = "(NeurIPS)" if int(entry.year[:4]) >= 2018 else "(NIPS)"
            assert expected in venue, f"{entry.key}: {venue}"
