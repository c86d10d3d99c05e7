"""tools/setup_lab.py: the JupyterLab of `make lab` opens .md rendered and trusts the course's notebooks."""

import json

import nbformat
from nbformat.sign import NotebookNotary
from tool_loader import load_tool

setup_lab = load_tool("setup_lab")


def test_overrides_open_markdown_rendered_and_keep_other_settings(tmp_path):
    path = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}))
    assert setup_lab.write_overrides(tmp_path) == path
    settings = json.loads(path.read_text())
    viewers = settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["markdown"] == "Markdown Preview"
    assert settings["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}


def test_course_notebooks_are_trusted_once(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))  # a learner's own signature store
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("figure", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/html": "<div id='plot'></div><script>draw()</script>"})])]
    (tmp_path / "notebooks").mkdir()
    nbformat.write(notebook, tmp_path / "notebooks" / "chapter.ipynb")
    assert not NotebookNotary().check_signature(nbformat.read(tmp_path / "notebooks" / "chapter.ipynb", 4))
    assert setup_lab.trust_notebooks(tmp_path) == [tmp_path / "notebooks" / "chapter.ipynb"]
    assert NotebookNotary().check_signature(nbformat.read(tmp_path / "notebooks" / "chapter.ipynb", 4))
    assert setup_lab.trust_notebooks(tmp_path) == []  # already trusted: nothing to sign
