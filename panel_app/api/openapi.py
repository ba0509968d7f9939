"""The OpenAPI 3 document, assembled from the descriptions attached to the views.

Built from the URL map itself, so a route without a description cannot hide: the tests fail on
any ``/api/v1`` view that has none, and validate the document.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from panel_app.api.base import Operation, api, documented
from panel_app.api.schemas import ErrorOut

_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    400: "Malformed JSON or wrong types",
    401: "No valid bearer token",
    403: "Visible, but not yours to change",
    404: "Absent, or outside your scope",
    409: "Changed by someone else since you read it",
    422: "Fails a rule",
    429: "Too many requests: wait and try again (see Retry-After)",
}


def operations() -> list[tuple[str, str, str, Operation | None]]:
    """(path, method, endpoint, description) for every API route of the running app."""
    found = []
    for rule in current_app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = _CONVERTER.sub(r"{\1}", rule.rule.removeprefix(api.url_prefix or ""))
        view = current_app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((path, method.lower(), rule.endpoint, getattr(view, "openapi_operation", None)))
    return found


def _models(described: list[Operation]) -> list[type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {}
    for operation in described:
        candidates: list[Any] = [operation.body, *operation.responses.values()]
        for candidate in candidates:
            if isinstance(candidate, list):
                candidate = candidate[0]
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                models[candidate.__name__] = candidate
    return list(models.values())


def _schema_ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _response(status: int, shape: Any) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "Answer")}
    if isinstance(shape, list):
        response["content"] = {"application/json": {"schema": {"type": "array", "items": _schema_ref(shape[0])}}}
    elif isinstance(shape, type) and issubclass(shape, BaseModel):
        response["content"] = {"application/json": {"schema": _schema_ref(shape)}}
    elif isinstance(shape, str):
        response["content"] = {shape: {"schema": {"type": "string", "format": "binary"}}}
    return response


def _responses(operation: Operation) -> dict[int, Any]:
    """The view's own answers, and the 429 any signed-in call may get (API_RATE_LIMIT per person,
    PDF_RATE_LIMIT on PDFs)."""
    responses = dict(operation.responses)
    if not operation.public:
        responses.setdefault(429, ErrorOut)
    return dict(sorted(responses.items()))


def build_document() -> dict[str, Any]:
    found = operations()
    described = [operation for *_rest, operation in found if operation is not None]
    _keys, schemas = models_json_schema(
        [(model, "validation") for model in _models(described)], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for path, method, endpoint, operation in found:
        if operation is None:
            continue
        entry: dict[str, Any] = {
            "operationId": endpoint.removeprefix("api."),
            "summary": operation.summary,
            "tags": [operation.tag],
            "responses": {str(status): _response(status, shape) for status, shape in _responses(operation).items()},
        }
        if operation.description:
            entry["description"] = operation.description
        if operation.public:
            entry["security"] = []
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
            for name in re.findall(r"{([a-z_]+)}", path)
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
            for name, text in operation.query.items()
        ]
        if parameters:
            entry["parameters"] = parameters
        if operation.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema_ref(operation.body)}},
            }
        paths.setdefault(path, {})[method] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "panel_app API",
            "version": "1",
            "description": "Multi-agency resettlement panels. Errors: {\"error\": {\"code\", \"message\", "
            "\"fields\"}}. A record outside the caller's scope is a 404, never a 403.",
        },
        "servers": [{"url": api.url_prefix}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas.get("$defs", {}),
        },
        "paths": paths,
    }


@api.route("/openapi.json")
@documented("This OpenAPI document", tag="Reference", responses={200: None}, public=True)
def openapi_document() -> ResponseReturnValue:
    return jsonify(build_document())
