"""``flask --app panel_app ...`` commands. Each command is one transaction: it commits at the end
or not at all."""

from __future__ import annotations

import click
from flask import Flask, current_app

from panel_app import audit, jobs, session_store
from panel_app.errors import PanelError
from panel_app.extensions import db
from panel_app.models import User
from panel_app.services import accounts, actions, database_roles, demo, outbox, partnerships, people, referrals


def install(app: Flask) -> None:
    app.cli.add_command(create_admin_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(set_stages_command)
    app.cli.add_command(send_reminders_command)
    app.cli.add_command(deliver_emails_command)
    app.cli.add_command(audit_group)
    app.cli.add_command(db_roles_group)
    app.cli.add_command(users_group)


@click.command("create-admin")
@click.argument("email")
@click.option("--name", required=True, help="The administrator's name, as people will see it.")
@click.option("--force", is_flag=True, help="Add an administrator even though an active one exists.")
def create_admin_command(email: str, name: str, force: bool) -> None:
    """Create an administrator (the installation's first) and print a single-use link to choose
    their password. Refused while an active administrator exists, unless --force."""
    config = current_app.config
    if config["PRODUCTION"] and not config["PANEL_BASE_URL_GIVEN"]:
        raise click.ClickException(
            "Set PANEL_BASE_URL to the address people reach this installation at (for example "
            "https://panels.example.org): the sign-in link is built on it.")
    try:
        admin, secret, _link = people.create_first_admin(email, name, force=force)
    except PanelError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    hours = config["PANEL_INVITATION_HOURS"]
    click.echo(f"Administrator {admin.email} created. To choose their password and sign in, open this link "
               f"within {hours} hours (it works once):")
    click.echo(outbox.link("auth.welcome", secret=secret))


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
    jobs.deliver_soon()
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
    outbox.start_counting()
    run = actions.send_reminders()
    db.session.commit()
    queued = outbox.queued_in_this_request()
    if queued:
        jobs.deliver_soon()
    click.echo(f"Reminders: {run}. Emails queued: {queued} (the worker sends them; the outbox shows when).")


@click.command("deliver-emails")
def deliver_emails_command() -> None:
    """Deliver the emails that are due now (what the worker does every minute; for cron, or by hand
    when the worker is not running)."""
    run = outbox.deliver_due()
    click.echo(f"Emails: {run}.")


@click.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
def audit_verify_command() -> None:
    """Check the audit trail's hash chain, row by row in id order; exit code 1 at the first broken link."""
    check = audit.verify_chain()
    db.session.rollback()  # read only
    if not check.holds:
        click.echo(f"The chain is broken at row {check.broken_at}: {check.why}. "
                   f"({check.rows} rows before it hold.)", err=True)
        raise SystemExit(1)
    click.echo(f"{check.rows} rows, the chain holds.")
    if check.last_hash:
        # Rows cut from the end leave no broken link: keep this somewhere else to compare with later.
        click.echo(f"The newest row's hash is {check.last_hash}.")


@click.group("db-roles")
def db_roles_group() -> None:
    """The application's PostgreSQL role (docs/operations.md: "PostgreSQL with two roles")."""


@db_roles_group.command("grant")
@click.argument("role")
def db_roles_grant_command(role: str) -> None:
    """Run as the tables' owner after every upgrade: grant ROLE, the role the application logs in as,
    read and write on every table but only SELECT and INSERT on the audit trail."""
    try:
        statements = database_roles.grant_application_role(role)
    except PanelError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"Granted {role} what the application needs ({len(statements)} statements); "
               "on audit_event only SELECT and INSERT.")
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
