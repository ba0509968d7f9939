"""A real installation's first run (``flask create-admin``) and the password rule every chosen
password meets."""

from __future__ import annotations

import re

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import select

from panel_app.errors import RuleBroken
from panel_app.models import AccountLink, AuditEvent, LinkPurpose, Role, User, db
from panel_app.services import accounts
from tests.conftest import csrf_token_from, sign_in
from tests.factories import make_user

CHOSEN = "heather quarry bicycle morning"
PRINTED_LINK = re.compile(r"^http://panels\.test(/welcome/[A-Za-z0-9_-]+)$", re.MULTILINE)


def _create_admin(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["create-admin", *args])


def test_create_admin_prints_a_link_that_leads_to_choosing_a_password_and_the_admin_home(app: Flask) -> None:
    result = _create_admin(app, "First.Admin@Example.org", "--name", "Ffion Admin")
    assert result.exit_code == 0, result.output
    assert "Administrator first.admin@example.org created." in result.output
    assert "within 72 hours (it works once)" in result.output
    path = PRINTED_LINK.search(result.output).group(1)
    admin = db.session.scalars(select(User).where(User.email == "first.admin@example.org")).one()
    assert admin.role is Role.ADMIN and admin.active and not admin.has_password
    link = db.session.scalars(select(AccountLink).where(AccountLink.user_id == admin.id)).one()
    assert link.purpose is LinkPurpose.FIRST_SIGN_IN and link.created_by_id is None
    assert db.session.scalars(select(AuditEvent.action).where(AuditEvent.record_id == admin.id,
                                                              AuditEvent.record_type == "user")).all() \
        == ["person.created_admin"]

    browser = app.test_client()
    page = browser.get(path)
    assert page.status_code == 200 and "Choose your password" in page.text and "Ffion Admin" in page.text
    chosen = browser.post(path, data={"csrf_token": csrf_token_from(page.text), "password": CHOSEN})
    assert chosen.status_code == 302 and chosen.headers["Location"] == "/"
    home = browser.get("/")
    assert home.status_code == 200 and "Ffion Admin" in home.text
    assert sign_in(app.test_client(), "first.admin@example.org", CHOSEN).status_code == 302
    assert app.test_client().get(path).status_code == 410


def test_create_admin_is_refused_while_an_active_admin_exists_unless_forced(app: Flask) -> None:
    make_user(Role.ADMIN, email="already@example.org")
    db.session.commit()
    refused = _create_admin(app, "second@example.org", "--name", "Second Admin")
    assert refused.exit_code == 1
    assert "An active administrator already exists (already@example.org). Use --force" in refused.output
    assert db.session.scalar(select(User.id).where(User.email == "second@example.org")) is None

    forced = _create_admin(app, "second@example.org", "--name", "Second Admin", "--force")
    assert forced.exit_code == 0, forced.output
    assert PRINTED_LINK.search(forced.output)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.created_admin")).one()
    assert event.detail["forced"] is True and event.channel == "cli"


def test_a_deactivated_admin_does_not_count(app: Flask) -> None:
    make_user(Role.ADMIN, email="retired@example.org", active=False)
    db.session.commit()
    assert _create_admin(app, "fresh@example.org", "--name", "Fresh Admin").exit_code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["taken@example.org", "--name", "Taken"], "Someone already has an account with this email address"),
    (["not-an-address", "--name", "Someone"], "Enter an email address in the correct format"),
    (["someone@example.org", "--name", "   "], "Enter their name"),
])
def test_create_admin_says_what_is_wrong_with_its_input(app: Flask, args: list[str], message: str) -> None:
    make_user(Role.BROKER, email="taken@example.org")
    db.session.commit()
    result = _create_admin(app, *args)
    assert result.exit_code == 1
    assert message in result.output


def test_create_admin_needs_its_name(app: Flask) -> None:
    result = _create_admin(app, "nameless@example.org")
    assert result.exit_code == 2 and "--name" in result.output


def test_in_production_create_admin_needs_the_installations_address(app: Flask,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "PRODUCTION", True)
    monkeypatch.setitem(app.config, "PANEL_BASE_URL_GIVEN", False)
    refused = _create_admin(app, "prod@example.org", "--name", "Prod Admin")
    assert refused.exit_code == 1
    assert "Set PANEL_BASE_URL to the address people reach this installation at" in refused.output
    assert db.session.scalar(select(User.id).where(User.email == "prod@example.org")) is None

    monkeypatch.setitem(app.config, "PANEL_BASE_URL_GIVEN", True)
    monkeypatch.setitem(app.config, "PANEL_BASE_URL", "https://panels.example.org/rrp")
    result = _create_admin(app, "prod@example.org", "--name", "Prod Admin")
    assert result.exit_code == 0, result.output
    assert re.search(r"^https://panels\.example\.org/rrp/welcome/[A-Za-z0-9_-]{43}$", result.output, re.MULTILINE)


def test_the_settings_say_whether_the_address_was_given(tmp_path) -> None:
    from panel_app.config import ConfigurationError, settings_from_environment

    production = {"PANEL_ENV": "production", "SECRET_KEY": "k" * 40}
    assert settings_from_environment(str(tmp_path), production)["PANEL_BASE_URL_GIVEN"] is False
    given = settings_from_environment(str(tmp_path), {**production, "PANEL_BASE_URL": "https://panels.example.org/"})
    assert given["PANEL_BASE_URL_GIVEN"] is True and given["PANEL_BASE_URL"] == "https://panels.example.org"
    defaults = settings_from_environment(str(tmp_path), {})
    assert (defaults["PANEL_INVITATION_HOURS"], defaults["PANEL_RESET_MINUTES"]) == (72, 60)
    with pytest.raises(ConfigurationError):
        settings_from_environment(str(tmp_path), {"PANEL_RESET_MINUTES": "0"})


# --- The password rule ---------------------------------------------------------------------------

EMAIL, NAME = "Rhiannon.Evans@example.org", "Rhiannon Evans"


@pytest.mark.parametrize("password", [
    "x" * 12,  # the length rule alone: no composition rules
    "correct horse battery",
    "all lower case and spaces",
    "ŵyr ôl môr ŷd ffion",
    "y" * 1000,
    "rhiannon evans and her dog",  # contains the name, is not the name
])
def test_passwords_the_rule_accepts(password: str) -> None:
    accounts.check_new_password(password, email=EMAIL, name=NAME)


@pytest.mark.parametrize(("password", "message"), [
    ("x" * 11, "Use at least 12 characters"),
    ("", "Use at least 12 characters"),
    ("y" * 1001, "Use 1000 characters or fewer"),
    ("qwerty123456", "among the most common passwords"),
    ("QWERTY123456", "among the most common passwords"),
    ("1qaz2wsx3edc", "among the most common passwords"),
    ("qwerty 123456", "among the most common passwords"),
    ("rhiannon.evans@example.org", "not your email address or your name"),
    ("RHIANNON.EVANS", "not your email address or your name"),
    ("rhiannon evans", "not your email address or your name"),
    ("RhiannonEvans", "not your email address or your name"),
])
def test_passwords_the_rule_refuses_say_what_to_do(password: str, message: str) -> None:
    with pytest.raises(RuleBroken) as refused:
        accounts.check_new_password(password, email=EMAIL, name=NAME)
    assert message in refused.value.fields["password"]
    assert refused.value.status == 422


def test_passwords_are_stored_as_argon2id_hashes(app: Flask) -> None:
    user = make_user(Role.BROKER)
    accounts.change_password(user, CHOSEN)
    assert user.password_hash.startswith("$argon2id$")
    assert CHOSEN not in user.password_hash
