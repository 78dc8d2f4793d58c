"""The OpenAPI 3.1 document, written from the declared operations and their pydantic models,
and a plain docs page at /api/docs (no external assets: it works offline)."""

from __future__ import annotations

import html
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from core.api.routing import PREFIX, Api, Operation

REF = "#/components/schemas/{model}"


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable code, e.g. not_found, validation_error.")
    message: str = Field(description="A sentence for people.")
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


_ERRORS = {
    "400": "bad_request: the body is not JSON",
    "401": "unauthorized: no valid access token",
    "403": "permission_denied: your role cannot do this",
    "404": "not_found",
    "409": "conflict",
    "422": "validation_error: a field is not valid",
    "429": "rate_limited",
}


def document(apis: list[Api], version: str) -> dict[str, Any]:
    operations = [op for api in apis for op in api.operations]
    models: set[type[BaseModel]] = {ErrorBody}
    for op in operations:
        models.update(m for m in (op.body, op.response) if m is not None)
    mode: Literal["validation"] = "validation"
    refs, defs = models_json_schema(
        [(model, mode) for model in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(PREFIX + op.path, {})[op.method.lower()] = _operation(op, refs, mode)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "zapdesk API",
            "version": version,
            "description": 'The desk\'s REST API. Errors are {"error": {code, message, details}}.',
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _operation(op: Operation, refs: dict[Any, Any], mode: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": list(op.tags),
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in op.path_params()
        ],
    }
    if op.description:
        spec["description"] = op.description
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            spec["parameters"].append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, mode)]}},
        }
    ok: dict[str, Any] = {"description": "OK"}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": refs[(op.response, mode)]}}
    # An operation without a response model answers nothing: 204.
    spec["responses"] = {str(op.status if op.response is not None else 204): ok}
    error = {"application/json": {"schema": refs[(ErrorBody, mode)]}}
    for status, text in _ERRORS.items():
        if status in ("401", "403") and not op.roles:
            continue
        spec["responses"][status] = {"description": text, "content": error}
    if op.roles:
        spec["security"] = [{"bearer": []}]
        spec["x-roles"] = sorted(role.value for role in op.roles)
    return spec


def docs_page(doc: dict[str, Any]) -> str:
    rows = []
    for path, methods in doc["paths"].items():
        for method, spec in methods.items():
            roles = ", ".join(spec.get("x-roles", [])) or "public"
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                f"</td><td>{html.escape(spec['summary'])}</td><td>{html.escape(roles)}</td></tr>"
            )
    return (
        "<!doctype html><html lang='en'><meta charset='utf-8'><title>zapdesk API</title>"
        "<style>body{font:15px system-ui;margin:2rem;max-width:70rem}td{padding:.3rem .6rem;"
        "border-bottom:1px solid #ddd}code{font-size:13px}</style>"
        f"<h1>zapdesk API {html.escape(doc['info']['version'])}</h1>"
        "<p>The full description is <a href='/api/v1/openapi.json'>/api/v1/openapi.json</a> "
        "(OpenAPI 3.1). Send <code>Authorization: Bearer &lt;access token&gt;</code>.</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>roles</th></tr>"
        + "".join(rows)
        + "</table></html>"
    )


def install_docs(app: web.Application, apis: list[Api], version: str) -> None:
    cached: dict[str, Any] = {}

    def doc() -> dict[str, Any]:
        if not cached:
            cached.update(document(apis, version))
        return cached

    async def openapi_json(request: web.Request) -> web.Response:
        return web.json_response(doc())

    async def docs(request: web.Request) -> web.Response:
        return web.Response(text=docs_page(doc()), content_type="text/html")

    app.router.add_get(PREFIX + "/openapi.json", openapi_json)
    app.router.add_get("/api/docs", docs)
