"""Every public callable of the package says what it does: a docstring, and for each
exception its own code raises, a `Raises:` section that names it.

Public: a module-level function or class whose name has no leading underscore, in every
module of `attention_course` (generated or hand-written). A function or method that raises
(`raise ValueError(...)` in its own body) names the exception under `Raises:` in its own
docstring or, for a method, in its class's docstring.
"""

import ast
import importlib
import inspect
import pkgutil
import textwrap
from pathlib import Path

import pytest

import attention_course


def all_modules():
    names = [attention_course.__name__]
    for info in pkgutil.walk_packages(attention_course.__path__, prefix="attention_course."):
        names.append(info.name)
    return [importlib.import_module(name) for name in sorted(names)]


def own_public_members(module):
    """(qualified name, object) of the public functions and classes a module defines."""
    for name, obj in vars(module).items():
        if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if getattr(obj, "__module__", None) == module.__name__:
            yield f"{module.__name__}.{name}", obj


MEMBERS = [member for module in all_modules() for member in own_public_members(module)]


def raised_names(function_node):
    """Names of the exceptions a function raises itself (`raise X(...)` / `raise X`)."""
    names = set()
    for node in ast.walk(function_node):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id.endswith(("Error", "Exception")):
                names.add(exc.id)
    return names


def missing_raises(name, obj):
    """'function: ExcName' for each raised exception its docstring does not name."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    top = tree.body[0]
    functions = [top] if not isinstance(top, ast.ClassDef) else [
        node for node in top.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    class_doc = ast.get_docstring(top) or "" if isinstance(top, ast.ClassDef) else ""
    missing = []
    for function in functions:
        doc = (ast.get_docstring(function) or "") + "\n" + class_doc
        for exc in sorted(raised_names(function)):
            if not ("Raises:" in doc and exc in doc.split("Raises:", 1)[1]):
                missing.append(f"{name}{'' if function is top else '.' + function.name}: {exc}")
    return missing


def test_the_package_has_public_members():
    assert len(MEMBERS) > 80


@pytest.mark.parametrize("name, obj", MEMBERS, ids=[name for name, _ in MEMBERS])
def test_public_callable_has_a_docstring(name, obj):
    doc = inspect.getdoc(obj) if inspect.isfunction(obj) else obj.__dict__.get("__doc__")
    assert doc and doc.strip(), f"{name} has no docstring"


@pytest.mark.parametrize("name, obj", MEMBERS, ids=[name for name, _ in MEMBERS])
def test_every_raised_exception_is_documented(name, obj):
    missing = missing_raises(name, obj)
    assert not missing, "add a `Raises:` section naming: " + "; ".join(missing)


def test_the_checks_fail_on_what_they_must_reject():
    def undocumented(x):
        """Square x."""
        if x < 0:
            raise ValueError("x must be >= 0")
        return x * x

    def documented(x):
        """Square x.

        Raises:
            ValueError: if x < 0.
        """
        if x < 0:
            raise ValueError("x must be >= 0")
        return x * x

    assert missing_raises("undocumented", undocumented) == ["undocumented: ValueError"]
    assert missing_raises("documented", documented) == []


ROOT_NAMES = [line for line in Path(__file__).with_name("root_names.txt").read_text().splitlines()
              if line and not line.startswith("#")]


@pytest.mark.parametrize("name", ROOT_NAMES)
def test_every_name_once_importable_from_the_root_still_is(name):
    assert hasattr(attention_course, name), (
        f"`from attention_course import {name}` worked before the package's renovation "
        "(issue 14): keep it importable from the root")
