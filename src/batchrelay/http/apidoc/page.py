"""The OpenAPI document as one readable page, rendered on the server.

No script, no inline style: the page passes the dashboard's Content-Security-Policy as it
is. Everything taken from the document is escaped by Jinja2's autoescape; the only markup
added is ``<code>`` for text between backticks and links to the schemas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup, escape

METHODS = ("get", "post", "put", "patch", "delete")
_CODE = re.compile(r"`([^`]+)`")
_REF = "#/components/schemas/"


def prose(text: str | None) -> Markup:
    """Paragraphs of a description, with `code` spans; everything else escaped."""
    paragraphs = [p.strip() for p in (text or "").split("\n\n") if p.strip()]
    return Markup("").join(Markup("<p>{}</p>").format(inline(p)) for p in paragraphs)


def inline(text: str | None) -> Markup:
    """One line of description, with `code` spans."""
    escaped = str(escape(" ".join((text or "").split())))
    return Markup(_CODE.sub(r"<code>\1</code>", escaped))


def anchor(name: str) -> str:
    return "schema-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def type_of(schema: Mapping[str, Any]) -> Markup:
    """A schema's type in a few words, with links to named schemas."""
    if "$ref" in schema:
        name = str(schema["$ref"]).removeprefix(_REF)
        return Markup('<a href="#{}">{}</a>').format(anchor(name), name)
    for either in ("oneOf", "anyOf"):
        if either in schema:
            return Markup(" or ").join(type_of(part) for part in schema[either])
    if "const" in schema:
        return Markup("<code>{}</code>").format(json.dumps(schema["const"]))
    kinds = schema.get("type", "any")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    words = [_one_type(kind, schema) for kind in kinds]
    return Markup(" or ").join(words)


def _one_type(kind: str, schema: Mapping[str, Any]) -> Markup:
    if kind == "array":
        items = schema.get("items")
        if items is None and "prefixItems" in schema:
            parts = Markup(", ").join(type_of(p) for p in schema["prefixItems"])
            return Markup("[{}]").format(parts)
        return Markup("array of {}").format(type_of(items or {}))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return Markup("object of {}").format(type_of(schema["additionalProperties"]))
    text = Markup("{}").format(kind)
    if "format" in schema and kind == "string":
        text = Markup("{} ({})").format(text, schema["format"])
    if "enum" in schema and kind != "null":
        shown = Markup(", ").join(
            Markup("<code>{}</code>").format(v if v != "" else '""') for v in schema["enum"]
        )
        text = Markup("{}: {}").format(text, shown)
    return text


def limits(schema: Mapping[str, Any]) -> str:
    """Bounds and default in a few words (``0–100, default 0``)."""
    parts = []
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        parts.append(f"{low}–{high}")
    elif low is not None:
        parts.append(f"at least {low}")
    if "maxLength" in schema:
        parts.append(f"at most {schema['maxLength']} characters")
    if "minItems" in schema or "maxItems" in schema:
        parts.append(f"{schema.get('minItems', 0)}–{schema.get('maxItems', '…')} items")
    if "default" in schema:
        parts.append(f"default {schema['default']}")
    return ", ".join(parts)


@dataclass
class Field:
    name: str  # a nested field's path: ``codes[].code``, ``ingest.events``
    type: Markup
    required: bool
    description: Markup
    bounds: str


def fields_of(schema: Mapping[str, Any], prefix: str = "", depth: int = 0) -> list[Field]:
    """The properties of an object schema, each inline object's own after it (one table,
    the nested ones named by their path, so it reads the same on a phone)."""
    required = set(schema.get("required", ()))
    found = []
    for name, prop in schema.get("properties", {}).items():
        found.append(Field(prefix + name, type_of(prop), name in required,
                           inline(prop.get("description")), limits(prop)))  # fmt: skip
        if depth < 3 and prop.get("properties"):
            found += fields_of(prop, f"{prefix}{name}.", depth + 1)
        elif depth < 3 and (prop.get("items") or {}).get("properties"):
            found += fields_of(prop["items"], f"{prefix}{name}[].", depth + 1)
    return found


@dataclass
class Operation:
    method: str
    path: str
    id: str
    summary: str
    description: Markup
    writes: bool
    parameters: list[Mapping[str, Any]]
    body: Mapping[str, Any] | None
    examples: list[tuple[str, str]]  # (summary, the body as JSON)
    responses: list[tuple[str, Mapping[str, Any]]]


def _resolve(doc: Mapping[str, Any], item: Mapping[str, Any]) -> Mapping[str, Any]:
    """A parameter or response, following one ``$ref`` into ``components``."""
    ref = item.get("$ref")
    if not isinstance(ref, str):
        return item
    section, name = ref.removeprefix("#/components/").split("/", 1)
    resolved: Mapping[str, Any] = doc["components"][section][name]
    return resolved


def operations(doc: Mapping[str, Any]) -> Iterator[Operation]:
    for path, item in doc["paths"].items():
        shared = [_resolve(doc, p) for p in item.get("parameters", [])]
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            writes = any("writeBearer" in s for s in op.get("security", []))
            body = op.get("requestBody", {}).get("content", {}).get("application/json") or {}
            examples = [(e.get("summary", ""), json.dumps(e["value"], indent=2, ensure_ascii=False))
                        for e in body.get("examples", {}).values()]  # fmt: skip
            yield Operation(
                method=method.upper(),
                path=path,
                id=op["operationId"],
                summary=op.get("summary", ""),
                description=prose(op.get("description")),
                writes=writes,
                parameters=[*shared, *(_resolve(doc, p) for p in op.get("parameters", []))],
                body=body.get("schema"),
                examples=examples,
                responses=[(code, _resolve(doc, r)) for code, r in op["responses"].items()],
            )


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("batchrelay.http.apidoc", "."),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(type_of=type_of, inline=inline, limits=limits, anchor=anchor,
                       fields_of=fields_of)  # fmt: skip
    return env


def render(doc: Mapping[str, Any]) -> str:
    """The whole page for ``doc``."""
    by_tag: dict[str, list[Operation]] = {t["name"]: [] for t in doc.get("tags", [])}
    for op in operations(doc):
        tags = doc["paths"][op.path][op.method.lower()].get("tags", ["other"])
        by_tag.setdefault(tags[0], []).append(op)
    template = _environment().get_template("page.html.j2")
    return template.render(
        info=doc["info"],
        description=prose(doc["info"].get("description")),
        by_tag={tag: ops for tag, ops in by_tag.items() if ops},
        tags={t["name"]: inline(t.get("description")) for t in doc.get("tags", [])},
        schemas=doc["components"]["schemas"],
    )
