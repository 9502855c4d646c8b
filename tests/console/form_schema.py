"""Check the console's forms against the API's OpenAPI schema: every field a form sends is a
field of its route's body (or query), and every choice it offers is a value the API accepts."""

from __future__ import annotations

import re
from typing import Any

FORMS_JS = """() => [...document.querySelectorAll("form[data-api]")].map((form) => ({
  api: form.dataset.api,
  pair: form.dataset.pair || null,
  fields: [...form.querySelectorAll("input[name], select[name], textarea[name]")].map((el) => ({
    name: el.name, type: el.type, query: el.dataset.in === "query", skip: !!el.dataset.skip,
    path: !!el.dataset.path,
    options: el.tagName === "SELECT" ? [...el.options].map((o) => o.value) : null,
  })),
}))"""


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    variants = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(variants) == 1:
        return _resolve(spec, variants[0])
    return schema


def _operation(spec: dict, method: str, path: str) -> dict:
    for template, operations in spec["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(pattern, path) and method.lower() in operations:
            return operations[method.lower()]
    raise AssertionError(f"{method} {path}: no such route in the OpenAPI schema")


def problems(spec: dict, forms: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the forms (empty: nothing)."""
    found = []
    for form in forms:
        method, path = form["api"].split(" ", 1)
        operation = _operation(spec, method, path)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        schema = _resolve(spec, body["schema"]) if body else {}
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        for field in form["fields"]:
            if field["skip"] or field["path"] or field["type"] == "file":
                continue
            where = f"{form['api']} field {field['name']}"
            if field["query"]:
                if field["name"] not in query:
                    found.append(f"{where}: not a query parameter")
                continue
            node = schema
            for part in field["name"].split("."):
                if node.get("type") == "object" and "properties" not in node:
                    node = {}  # a free-form object (a command's params): any key
                    break
                node = _resolve(spec, node.get("properties", {}).get(part, {"missing": True}))
                if node.get("missing"):
                    break
            if node.get("missing"):
                found.append(f"{where}: not in the request body")
                continue
            allowed = node.get("enum")
            for option in field["options"] or []:
                if allowed is not None and option and option not in allowed:
                    if node.get("type") == "integer" or not allowed:
                        continue
                    found.append(f"{where}: option {option!r} not in {allowed}")
        if form["pair"] and form["pair"] not in schema.get("properties", {}):
            found.append(f"{form['api']}: {form['pair']} not in the request body")
    return found
