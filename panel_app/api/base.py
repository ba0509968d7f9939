"""The API door's shared parts: the blueprint, reading JSON bodies and list parameters, and the
OpenAPI description attached to each view."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Iterator, TypeVar

from flask import Blueprint, request
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError

from panel_app.errors import BadRequest, PanelError
from panel_app.throttling import api_per_person

api = Blueprint("api", __name__, url_prefix="/api/v1")
api_per_person(api)  # API_RATE_LIMIT requests per person, whatever the route

MAX_PER_PAGE = 100

ModelT = TypeVar("ModelT", bound=BaseModel)
ViewT = TypeVar("ViewT", bound=Callable[..., Any])


def read_body(model: type[ModelT]) -> ModelT:
    """The request's JSON body, checked strictly against ``model`` (a string is not a number, a
    number is not a date); a 400 naming each wrong field."""
    if not request.is_json:
        raise BadRequest(_("Send a JSON object in the request body, with Content-Type: application/json."))
    try:
        return model.model_validate_json(request.get_data(cache=True), strict=True)
    except ValidationError as error:
        if any(problem["type"] == "json_invalid" for problem in error.errors()):
            raise BadRequest(_("The request body is not valid JSON.")) from None
        raise BadRequest(_("Some fields are missing or of the wrong type."), _fields_of(error)) from None


def read_query(model: type[ModelT]) -> ModelT:
    """The query string, checked against ``model``; a 400 naming each wrong parameter."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as error:
        raise BadRequest(_("Some query parameters are not valid."), _fields_of(error)) from None


@contextmanager
def fields_named(**api_names: str) -> Iterator[None]:
    """Name the fields of a rule's error as the API's request body names them (the services say
    ``due_on``, the contract says ``due_date``), so a caller can tell which field to fix."""
    try:
        yield
    except PanelError as error:
        error.fields = {api_names.get(name, name): message for name, message in error.fields.items()}
        raise


def values_of(kind: type[Enum]) -> str:
    """An enum's values as the OpenAPI document's words for a parameter: "low, medium, high or critical"."""
    values = [str(member.value) for member in kind]
    return " or ".join([", ".join(values[:-1]), values[-1]] if len(values) > 1 else values)


def _fields_of(error: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for problem in error.errors(include_url=False, include_context=False, include_input=False):
        name = ".".join(str(part) for part in problem["loc"]) or "body"
        fields.setdefault(name, problem["msg"])
    return fields


@dataclass(frozen=True)
class Page:
    number: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.per_page


def read_page(default_per_page: int = 25) -> Page:
    """``?page=`` and ``?per_page=`` (at most 100), or a 400 saying what is wrong."""
    fields: dict[str, str] = {}
    values: dict[str, int] = {}
    for name, default, highest in (("page", 1, None), ("per_page", default_per_page, MAX_PER_PAGE)):
        raw = request.args.get(name)
        if raw is None:
            values[name] = default
            continue
        try:
            value = int(raw)
        except ValueError:
            fields[name] = _("Must be a whole number")
            continue
        if value < 1 or (highest is not None and value > highest):
            fields[name] = (
                _("Must be between 1 and %(highest)d", highest=highest) if highest else _("Must be 1 or more")
            )
            continue
        values[name] = value
    if fields:
        raise BadRequest(_("The page parameters are not valid."), fields)
    return Page(values["page"], values["per_page"])


# --- OpenAPI description, kept beside each view -------------------------------------------------


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    responses: dict[int, type[BaseModel] | list[type[BaseModel]] | str | None]
    body: type[BaseModel] | None = None
    query: dict[str, str] = field(default_factory=dict)
    public: bool = False
    description: str = ""


def documented(
    summary: str,
    *,
    tag: str,
    responses: dict[int, type[BaseModel] | list[type[BaseModel]] | str | None],
    body: type[BaseModel] | None = None,
    query: dict[str, str] | None = None,
    public: bool = False,
    description: str = "",
) -> Callable[[ViewT], ViewT]:
    """Attach the OpenAPI description of a view; ``api.openapi`` assembles the document from them."""

    def attach(view: ViewT) -> ViewT:
        view.openapi_operation = Operation(  # type: ignore[attr-defined]
            summary=summary,
            tag=tag,
            responses=responses,
            body=body,
            query=query or {},
            public=public,
            description=description,
        )
        return view

    return attach
