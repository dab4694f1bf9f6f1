"""Griffe extension: the Sphinx roles of the docstrings (``:func:`~a.b``` ...) as mkdocs cross-references.

The package's numpydoc docstrings name other objects with Sphinx roles. mkdocstrings reads
Markdown, so each role becomes an optional autorefs reference: a link where the target is
rendered in the API reference, plain code elsewhere (``mkdocs build --strict`` never warns
about a private helper named in prose).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|meth|attr|mod|data|obj|exc):`(?P<tilde>~?)(?P<target>[^`<>]+?)`")


def role_to_autoref(match: re.Match[str], context: str) -> str:
    """One role as ``<autoref optional>``: ``~`` shows the last component, as in Sphinx.

    A target without a package prefix is looked up beside ``context`` (the documented
    object's parent), as Sphinx does for a method named inside its class.
    """
    target = match["target"].strip().removesuffix("()")
    title = target.rsplit(".", 1)[-1] if match["tilde"] else target
    identifier = target if target.startswith("dosefinding") else f"{context}.{target}"
    return f'<autoref identifier="{html.escape(identifier)}" optional><code>{html.escape(title)}</code></autoref>'


def convert_roles(text: str, context: str) -> str:
    """Every Sphinx role of ``text`` as an optional cross-reference (see :func:`role_to_autoref`)."""
    return ROLE.sub(lambda match: role_to_autoref(match, context), text)


class SphinxRoles(griffe.Extension):
    """Rewrites the roles of every docstring once griffe has loaded the object."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            context = obj.path if obj.is_class or obj.is_module else obj.parent.path if obj.parent else obj.path
            obj.docstring.value = convert_roles(obj.docstring.value, context)
