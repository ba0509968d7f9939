"""The one shape of every page that changes something with a form.

GET shows the form, with the version of the record it changes. POST checks the form and lets the
service act, all or nothing: then either says what was done and moves on, or shows the page again
with the service's problems beside the fields they are about, so that nothing typed is lost. The
page answers 400 when the form itself was not filled in right, and the problem's own status
otherwise (403, 404, 409, 422): a person sent back to a form learns why, and so does a test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import flash, redirect, request
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from panel_app.doors import all_or_nothing
from panel_app.errors import Conflict, PanelError
from panel_app.web import forms

Result = TypeVar("Result")


def form_page(
    form: FlaskForm,
    *,
    act: Callable[[], Result],
    done: str | Callable[[Result], str],
    then: str | Callable[[Result], str],
    page: Callable[[], str],
    record: Any = None,
    names: dict[str, str] | None = None,
) -> ResponseReturnValue:
    """Show ``form`` on ``page``, or, once it is sent and valid, ``act`` and go to ``then``.

    ``act`` is the service's change (its result is handed to ``done`` and ``then`` when they are
    functions: the meetings a schedule made, the count of emails queued). ``record`` is the record
    the form changes, whose ``version`` the form carries, so that a change made meanwhile by someone
    else is a 409 shown with the newer version (sending again then overrides it, knowingly).
    ``names`` maps the service's field names to the form's (``forms.apply_problems``).
    """
    versioned = record is not None and "version" in form
    if request.method == "GET" and versioned:
        form.version.data = record.version
    if not form.validate_on_submit():
        return page(), 400 if request.method == "POST" else 200
    try:
        with all_or_nothing():
            result = act()
    except PanelError as error:
        forms.apply_problems(form, error, names)
        if isinstance(error, Conflict) and versioned:
            form.version.data = record.version
        return page(), error.status
    flash(done(result) if callable(done) else done, "success")
    return redirect(then(result) if callable(then) else then)
