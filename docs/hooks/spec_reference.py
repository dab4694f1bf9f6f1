"""The spec reference pages, written from a spec's JSON Schema (``dosefinding.study.schema.spec_json_schema``).

One section per TOML table (``[arms]``, ``[[endpoints]]``, ``[endpoints.mcp]`` ...), each a table of
its keys: type, whether it is required, the default and the schema's description. Works on any
JSON Schema of draft 2020-12 as pydantic v2 writes them: ``$ref`` to ``$defs``, ``anyOf`` with
``null`` for an optional value, ``enum``/``const``, ``items``, ``additionalProperties``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]


@dataclass(frozen=True)
class Section:
    """One TOML table of the spec: its key path, whether it is an array of tables, its schema."""

    path: str
    array: bool
    schema: Schema
    description: str


def resolve(schema: Schema, root: Schema) -> Schema:
    """``schema`` with its local ``$ref`` (``#/$defs/Name``) followed, its own keywords kept over the target's."""
    seen: set[str] = set()
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise ValueError(f"spec schema: cannot follow $ref {ref!r}")
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def non_null(schema: Schema, root: Schema) -> tuple[Schema, bool]:
    """The schema without its ``null`` alternative, and whether ``null`` was allowed."""
    schema = resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [resolve(option, root) for option in schema[key]]
            rest = [option for option in options if option.get("type") != "null"]
            if len(rest) < len(options):
                merged = {k: v for k, v in schema.items() if k != key}
                if len(rest) == 1:
                    return {**rest[0], **merged}, True
                return {**merged, key: rest}, True
    if isinstance(schema.get("type"), list) and "null" in schema["type"]:
        types = [t for t in schema["type"] if t != "null"]
        return {**schema, "type": types[0] if len(types) == 1 else types}, True
    return schema, False


def is_table(schema: Schema) -> bool:
    """Whether the schema is a TOML table with named keys (an object with ``properties``)."""
    return schema.get("type", "object") == "object" and "properties" in schema


def table_items(schema: Schema, root: Schema) -> Schema | None:
    """The schema of the tables of an array of tables (``[[name]]``), else ``None``."""
    if schema.get("type") != "array" or "items" not in schema:
        return None
    items, _ = non_null(schema["items"], root)
    return items if is_table(items) else None


def literal(value: Any) -> str:
    """A value as it is written in TOML (strings quoted, booleans lower case)."""
    return json.dumps(value, ensure_ascii=False)


def type_text(schema: Schema, root: Schema, path: str) -> str:
    """The type of one key in words: ``number``, ``array of string``, ``one of "a", "b"``, ``table [path]``."""
    schema, _ = non_null(schema, root)
    if "const" in schema:
        return literal(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(literal(v) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(type_text(option, root, path) for option in schema[key])
    if is_table(schema):
        return f"table [`[{path}]`](#{anchor(path)})"
    kind = schema.get("type")
    if kind == "array":
        items = table_items(schema, root)
        if items is not None:
            return f"array of tables [`[[{path}]]`](#{anchor(path)})"
        if "prefixItems" in schema:
            inner = ", ".join(type_text(item, root, path) for item in schema["prefixItems"])
            return f"array [{inner}]"
        return "array of " + type_text(schema.get("items", {}), root, path) if "items" in schema else "array"
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, Mapping):
            inner, _ = non_null(values, root)
            if is_table(inner):
                return f"tables [`[{path}.<name>]`](#{anchor(path + '.<name>')}), one per name"
            return "table of " + type_text(values, root, path + ".<name>")
        return "table"
    if isinstance(kind, list):
        return " or ".join(kind)
    return kind or "any"


def constraints(schema: Schema, root: Schema) -> str:
    """Bounds and lengths in words (``>= 0``, ``< 1``, ``at least 2 items``)."""
    schema, _ = non_null(schema, root)
    words = []
    for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in schema:
            words.append(f"{sign} {schema[key]:g}" if isinstance(schema[key], float) else f"{sign} {schema[key]}")
    if "minItems" in schema:
        words.append(f"at least {schema['minItems']} item{'s' if schema['minItems'] != 1 else ''}")
    if "maxItems" in schema:
        words.append(f"at most {schema['maxItems']} item{'s' if schema['maxItems'] != 1 else ''}")
    if "minLength" in schema and schema["minLength"] > 0:
        words.append("not empty" if schema["minLength"] == 1 else f"at least {schema['minLength']} characters")
    if "pattern" in schema:
        words.append(f"matches `{schema['pattern']}`")
    return ", ".join(words)


def anchor(path: str) -> str:
    """The HTML id of a table's section: its key path, lower case, dots and brackets as hyphens."""
    return "spec-" + "".join(c if c.isalnum() else "-" for c in path.lower()).strip("-")


def cell(text: str) -> str:
    """Text fit for one Markdown table cell: one line, ``|`` escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def sections(schema: Schema, root: Schema, path: str = "", array: bool = False) -> Iterator[Section]:
    """Every table of the spec, depth first, the root first (path ``""``)."""
    schema, _ = non_null(schema, root)
    yield Section(path, array, schema, schema.get("description", ""))
    for key, value in schema.get("properties", {}).items():
        child = f"{path}.{key}" if path else key
        inner, _ = non_null(value, root)
        described = {**inner, "description": value.get("description", inner.get("description", ""))}
        if is_table(inner):
            yield from sections(described, root, child)
            continue
        options = [resolve(option, root) for option in inner.get("anyOf", inner.get("oneOf", []))]
        tables = [option for option in options if is_table(option)]
        if tables:  # e.g. a number or a table: the table's keys get their section
            yield from sections({**tables[0], "description": described["description"]}, root, child)
            continue
        values = inner.get("additionalProperties")
        if not is_table(inner) and isinstance(values, Mapping) and is_table(non_null(values, root)[0]):
            named, _ = non_null(values, root)
            yield from sections({**named, "description": described["description"] or named.get("description", "")},
                                root, f"{child}.<name>")
            continue
        items = table_items(inner, root)
        if items is not None:
            yield from sections({**items, "description": described["description"] or items.get("description", "")},
                                root, child, array=True)


def key_rows(section: Section, root: Schema) -> list[str]:
    """The Markdown table of one section's keys."""
    required = set(section.schema.get("required", ()))
    rows = ["| Key | Type | Required | Default | Description |", "| --- | --- | --- | --- | --- |"]
    for key, value in section.schema.get("properties", {}).items():
        child = f"{section.path}.{key}" if section.path else key
        inner, _ = non_null(value, root)
        description = value.get("description") or inner.get("description", "")
        if not description:
            raise ValueError(f"spec schema: {child}: no description")
        limits = constraints(value, root)
        default = literal(value["default"]) if "default" in value else ""
        if default == "null":
            default = "none"
        rows.append("| " + " | ".join(cell(text) for text in (
            f"`{key}`", type_text(value, root, child) + (f" ({limits})" if limits else ""),
            "yes" if key in required else "no", f"`{default}`" if default and default != "none" else default,
            description)) + " |")
    extra = section.schema.get("additionalProperties")
    if isinstance(extra, Mapping) and section.schema.get("properties"):
        rows.append(f"| *any other key* | {cell(type_text(extra, root, section.path + '.*'))} | no | | "
                    f"{cell(extra.get('description', ''))} |")
    return rows


def spec_reference(schema: Schema, title: str, intro: str = "") -> str:
    """The Markdown page of a spec: the intro, then one section per table with the table of its keys.

    Raises ``ValueError`` for a key without a description (the page would be incomplete).
    """
    lines = [f"# {title}", ""]
    if intro:
        lines += [intro.strip(), ""]
    description = schema.get("description")
    if description:
        lines += [description.strip(), ""]
    for section in sections(schema, schema):
        if not section.schema.get("properties"):
            continue
        if section.path:
            heading = f"[[{section.path}]]" if section.array else f"[{section.path}]"
            lines += [f"## `{heading}` {{ #{anchor(section.path)} }}", ""]
            if section.description:
                lines += [section.description.strip(), ""]
        else:
            lines += ["## Top-level keys", ""]
        lines += key_rows(section, schema) + [""]
    return "\n".join(lines)
