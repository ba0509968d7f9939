"""``flask --app panel_app ...`` commands. Each command is one transaction: it commits at the end
or not at all."""

from __future__ import annotations

import click
from flask import Flask, current_app

from panel_app import jobs
from panel_app.errors import PanelError
from panel_app.extensions import db
from panel_app.services import actions, demo, outbox, partnerships, referrals


def install(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(set_stages_command)
    app.cli.add_command(send_reminders_command)
    app.cli.add_command(deliver_emails_command)


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
