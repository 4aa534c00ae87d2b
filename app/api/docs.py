"""A readable page for the API at /api/v1/docs, rendered on our server from the OpenAPI document.

No third-party viewer and nothing from a CDN: the same stylesheet as the rest of the app.
"""

from flask import Blueprint, current_app

from app.web.helpers import render

bp = Blueprint("api_docs", __name__)
METHODS = ("get", "post", "put", "patch", "delete")


def _resolve(spec: dict, schema: dict) -> tuple[str, dict]:
    """(name, schema) for a $ref, or ("", schema) for an inline schema."""
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        return name, spec["components"]["schemas"].get(name, {})
    return "", schema


def _type(spec: dict, schema: dict) -> str:
    name, resolved = _resolve(spec, schema)
    if name:
        return name
    if resolved.get("type") == "array":
        return f"array of {_type(spec, resolved.get('items', {}))}"
    kind = resolved.get("type", "object")
    return f"{kind} ({resolved['format']})" if resolved.get("format") else kind


def _constraints(schema: dict) -> str:
    parts = []
    for key, label in [("minimum", "≥"), ("maximum", "≤"), ("minLength", "min length"), ("maxLength", "max length")]:
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    if "enum" in schema:
        parts.append("one of " + ", ".join(str(v) for v in schema["enum"]))
    if "pattern" in schema:
        parts.append(f"pattern {schema['pattern']}")
    return "; ".join(parts)


def _fields(spec: dict, schema: dict, prefix: str = "", depth: int = 0) -> list[dict]:
    """Flatten a schema's properties into rows (nested objects as dotted paths)."""
    _, resolved = _resolve(spec, schema)
    if resolved.get("type") == "array":
        return _fields(spec, resolved.get("items", {}), prefix + "[]", depth)
    rows = []
    required = set(resolved.get("required", []))
    for name, prop in resolved.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        _, target = _resolve(spec, prop)
        items = target.get("items", {}) if target.get("type") == "array" else {}
        rows.append(
            {
                "path": path,
                "type": _type(spec, prop),
                "required": name in required,
                "notes": " ".join(filter(None, [target.get("description", ""), _constraints(target)])),
                "read_only": bool(target.get("readOnly")),
            }
        )
        nested = items if items else target
        if depth < 3 and (nested.get("properties") or "$ref" in (items or prop)):
            rows += _fields(spec, items or prop, path + ("[]" if items else ""), depth + 1)
    return rows


def operations(spec: dict) -> list[dict]:
    """Operations grouped by tag, in document order."""
    groups: dict[str, dict] = {tag["name"]: {**tag, "operations": []} for tag in spec.get("tags", [])}
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            params = [*item.get("parameters", []), *op.get("parameters", [])]
            responses = [
                {
                    "status": status,
                    "description": response.get("description", ""),
                    "schema": _type(spec, response.get("content", {}).get("application/json", {}).get("schema", {}))
                    if response.get("content")
                    else "",
                }
                for status, response in op.get("responses", {}).items()
            ]
            for tag in op.get("tags", ["other"]):
                group = groups.setdefault(tag, {"name": tag, "description": "", "operations": []})
                group["operations"].append(
                    {
                        "id": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                        "method": method.upper(),
                        "path": path,
                        "summary": op.get("summary", ""),
                        "description": op.get("description", ""),
                        "parameters": [
                            {
                                "name": p["name"],
                                "in": p["in"],
                                "required": p.get("required", False),
                                "type": _type(spec, p.get("schema", {})),
                                "notes": " ".join(
                                    filter(None, [p.get("description", ""), _constraints(p.get("schema", {}))])
                                ),
                            }
                            for p in params
                        ],
                        "body": _fields(spec, body) if body else [],
                        "body_type": _type(spec, body) if body else "",
                        "responses": responses,
                    }
                )
    return [group for group in groups.values() if group["operations"]]


@bp.get("/api/v1/docs")
def docs():
    """The API reference for the engineers of the web shop, ERP and POS."""
    from app.api import api

    spec = api.spec.to_dict()
    return render(
        "api/docs.html",
        spec=spec,
        groups=operations(spec),
        version=current_app.config["API_VERSION"],
    )
