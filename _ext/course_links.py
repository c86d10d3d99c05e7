"""Sphinx extension: Markdown links written for JupyterLab also work on the site.

The course's notebooks link with plain Markdown, relative to the notebook, so that one
link works in JupyterLab (which opens the file) and in the book; tools/convert_markup.py
writes them. Two kinds need help from the site build:

- A chapter links to its exercise notebook, ``[Exercise 4.1](../exercises/ex4_1_....ipynb)``.
  In JupyterLab that opens the notebook; the book has no page for exercises/, only the
  exercise pages of book/exercises/ (generated from the same solution): the link goes there.
- A citation or a glossary term links to an id inside a page, such as
  ``../book/references.md#luong2015`` or ``../book/glossary.md#term-entropy``. myst-parser 3
  resolves ``page.md#id`` only when the id is a heading's slug; here every id of the target
  page counts (``(label)=`` targets, glossary terms), so such a link resolves, and an id
  that does not exist still fails the build (myst.xref_missing).
"""

import re

from docutils import nodes
from sphinx import addnodes

EXERCISE_NOTEBOOK = re.compile(r"^exercises/(?P<name>ex\d+_\d+\w*)$")


def send_exercise_links_to_their_page(doctree) -> None:
    for node in doctree.findall(addnodes.pending_xref):
        if node.get("refdomain") == "doc" and node.get("reftype") == "myst":
            match = EXERCISE_NOTEBOOK.match(node["reftarget"])
            if match:
                node["reftarget"] = f"book/exercises/{match['name']}"


def register_ids_as_link_targets(env, doctree) -> None:
    slugs = env.metadata[env.docname].setdefault("myst_slugs", {})
    for node in doctree.findall(nodes.Element):
        for node_id in node.get("ids", []):
            slugs.setdefault(node_id, (node.line or 0, node_id, node.astext()[:80]))


def on_doctree_read(app, doctree) -> None:
    send_exercise_links_to_their_page(doctree)
    register_ids_as_link_targets(app.env, doctree)


def setup(app):
    app.connect("doctree-read", on_doctree_read)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
