"""Errors the rules raise, with a message the user can act on.

The doors turn them into answers: an HTML page with a GOV.UK error summary, or the API's uniform
JSON error. Raising one rolls back the request's transaction, so nothing is half-saved.
"""

from __future__ import annotations


class PanelError(Exception):
    """Base for errors that reach the user. ``status`` is the HTTP status the doors answer with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class BadRequest(PanelError):
    """Malformed input: wrong types, unreadable JSON."""


class NotFound(PanelError):
    """Absent, or outside the caller's scope: the two are never told apart."""

    status = 404
    code = "not_found"


class Forbidden(PanelError):
    """The caller may see the record but may not do this to it."""

    status = 403
    code = "forbidden"


class Conflict(PanelError):
    """Someone else changed the record since the caller read it."""

    status = 409
    code = "conflict"


class Gone(PanelError):
    """Something that was there and can no longer be used (a single-use link already used, revoked
    or expired): saying so helps the person more than "not found"."""

    status = 410
    code = "gone"


class RuleBroken(PanelError):
    """Well-formed input that fails a rule of the domain (an end before its start, ...)."""

    status = 422
    code = "invalid"
