"""``flask --app panel_app ...`` commands. Each command is one transaction: it commits at the end
or not at all."""

from __future__ import annotations

import click
from flask import Flask, current_app

from panel_app.documents import mail
from panel_app.errors import PanelError
from panel_app.extensions import db
from panel_app import session_store
from panel_app.models import User
from panel_app.services import accounts, actions, demo, partnerships, referrals


def install(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(set_stages_command)
    app.cli.add_command(send_reminders_command)
    app.cli.add_command(users_group)


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Load the fictional Welsh demo installation (refused under production settings)."""
    if current_app.config["PRODUCTION"]:
        raise click.ClickException("Demo data cannot be loaded with PANEL_ENV=production.")
    try:
        summary = demo.seed_demo(current_app.config["PANEL_DEMO_PASSWORD"])
    except PanelError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    if summary is None:
        click.echo("The demo installation is already loaded; nothing changed.")
        return
    db.session.commit()
    mail.deliver_queued()
    click.echo(summary)


@click.command("set-stages")
@click.argument("partnership")
@click.argument("stages", nargs=-1)
def set_stages_command(partnership: str, stages: tuple[str, ...]) -> None:
    """Name a partnership's journey stages, in order (give none to go back to the Kalix five)."""
    found = partnerships.partnership_named(partnership)
    if found is None:
        raise click.ClickException(f"There is no partnership called {partnership!r}.")
    try:
        names = referrals.set_stages(found, list(stages))
    except PanelError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"{found.name}: " + "; ".join(f"{number}. {name}" for number, name in enumerate(names, start=1)))


@click.command("send-reminders")
def send_reminders_command() -> None:
    """Email action reminders and escalate overdue actions (run daily from cron; running it again the
    same day sends nothing twice)."""
    run = actions.send_reminders()
    db.session.commit()
    sent = mail.deliver_queued()
    click.echo(f"Reminders: {run}. Emails sent now: {sent}.")


# --- People (the admin's way until the admin pages exist) ---------------------------------------


@click.group("users")
def users_group() -> None:
    """Deactivate, reactivate and sign out people."""


def _person(email: str) -> User:
    user = accounts.user_with_email(email)
    if user is None:
        raise click.ClickException(f"There is no account with the email address {email!r}.")
    return user


@users_group.command("deactivate")
@click.argument("email")
def deactivate_command(email: str) -> None:
    """Stop a person signing in; their sessions, API tokens and calendar feed link end now."""
    user = _person(email)
    accounts.deactivate(user)
    db.session.commit()
    click.echo(f"{user.email} is deactivated: signed out everywhere, API tokens and calendar link ended.")


@users_group.command("reactivate")
@click.argument("email")
def reactivate_command(email: str) -> None:
    """Let a deactivated person sign in again (nothing from before works again)."""
    user = _person(email)
    accounts.reactivate(user)
    db.session.commit()
    click.echo(f"{user.email} can sign in again.")


@users_group.command("end-sessions")
@click.argument("email")
def end_sessions_command(email: str) -> None:
    """Sign a person out everywhere and end their API tokens (a lost phone, a shared computer)."""
    user = _person(email)
    accounts.end_everything(user, why="ended_by_admin")
    db.session.commit()
    click.echo(f"{user.email} is signed out everywhere and their API tokens are ended.")


@users_group.command("purge-sessions")
def purge_sessions_command() -> None:
    """Delete sessions nobody can use any more (run daily from cron)."""
    removed = session_store.purge()
    db.session.commit()
    click.echo(f"Sessions deleted: {removed}.")
