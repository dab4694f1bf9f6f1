"""Docstring examples are for copying: their code (the ``>>>`` and ``...`` lines) uses only public names.

A private name (``_example_fit()``, ``fit._data``, ``from dosefinding.x import _helper``) works in the doctest but
not for a reader, who should not call it and will not find it documented. Dunder names (``__version__``) and the
throwaway ``_`` are public.
"""

from __future__ import annotations

import ast
import doctest
import io
import tokenize
from pathlib import Path

import dosefinding

SRC = Path(dosefinding.__file__).parent


def private_names(source: str) -> list[str]:
    """The private names in a piece of example code."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [token.string for token in tokens
            if token.type == tokenize.NAME and token.string.startswith("_") and token.string != "_"
            and not (token.string.startswith("__") and token.string.endswith("__"))]


def docstring_examples(file: Path) -> list[tuple[str, int, str]]:
    """(object name, line in the file, example code) of every example in the file's docstrings."""
    parser = doctest.DocTestParser()
    found = []
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        docstring = ast.get_docstring(node, clean=False)
        if not docstring:
            continue
        first = node.body[0].lineno
        for example in parser.get_examples(docstring):
            found.append((getattr(node, "name", "<module>"), first + example.lineno, example.source))
    return found


def test_the_scan_finds_private_names() -> None:
    assert private_names("fit = _example_fit()\n") == ["_example_fit"]
    assert private_names("ls = f(fit._data, x.__class__, _)\n") == ["_data"]
    assert private_names("from dosefinding.mmrm._fit import mmrm\n") == ["_fit"]
    assert private_names("print('_not_a_name', __version__)\n") == []


def test_docstring_examples_use_only_public_names() -> None:
    offenders = [f"{file.relative_to(SRC.parent)}:{line} ({name}): {names}"
                 for file in sorted(SRC.rglob("*.py"))
                 for name, line, source in docstring_examples(file)
                 if (names := private_names(source))]
    assert len(list(SRC.rglob("*.py"))) > 50
    assert not offenders, "docstring examples using private names:\n" + "\n".join(offenders)
