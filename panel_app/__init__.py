"""panel_app: multi-agency resettlement panels for young people in the justice system."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask


def template_folder(package_path: str) -> str:
    """The templates: the repository's top-level ``templates/`` beside the package in a checkout (and
    an editable install), or ``panel_app/templates`` inside an installed package (pyproject.toml maps
    one onto the other when the package is built)."""
    installed = os.path.join(package_path, "templates")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(package_path), "templates")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application: settings from the environment (then ``config``), extensions,
    blueprints, the route guard and error pages, and the ``flask`` commands."""
    # Imported here so that importing a submodule (``panel_app.pathways`` from ``agencies``) does
    # not pull in the whole application.
    from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader
    from werkzeug.middleware.proxy_fix import ProxyFix

    from panel_app import cli, doors, jobs
    from panel_app.config import settings_from_environment
    from panel_app.extensions import babel, csrf, db, limiter, login_manager, migrate
    from panel_app.session_store import DatabaseSessionInterface
    from panel_app.web import templating

    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(settings_from_environment(app.instance_path))
    if config:
        app.config.update(config)

    if app.config["PANEL_PROXY_HOPS"]:
        # Behind a reverse proxy, take the client's address from the proxy's headers (for the audit
        # trail and throttling), trusting only as many hops as configured.
        hops = app.config["PANEL_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    app.jinja_loader = ChoiceLoader(
        [
            FileSystemLoader(template_folder(app.root_path)),
            PrefixLoader(
                {
                    "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
                    "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
                }
            ),
        ]
    )

    db.init_app(app)
    # Sessions live in the database, so that they can be listed and ended (see session_store).
    app.session_interface = DatabaseSessionInterface()
    with app.app_context():
        doors.configure_database(db.engine)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=templating.select_locale, timezone_selector=templating.select_timezone)
    jobs.init_app(app)

    from panel_app.api import api
    from panel_app.web.account import account
    from panel_app.web.agencies import agencies
    from panel_app.web.auth import auth
    from panel_app.web.home import home
    from panel_app.web.actions import actions
    from panel_app.web.calendar_feed import calendar
    from panel_app.web.emails import emails
    from panel_app.web.gaps import gaps
    from panel_app.web.meetings import meetings
    from panel_app.web.meta import meta
    from panel_app.web.partnerships import partnerships
    from panel_app.web.people import people
    from panel_app.web.referrals import referrals

    # Every <int:...> in a URL is a record id: bounded, so a huge number is a 404, not an overflow.
    app.url_map.converters["int"] = doors.RecordIdConverter

    for blueprint in (meta, auth, account, home, referrals, meetings, actions, gaps, calendar, emails, people,
                      agencies, partnerships, api):
        app.register_blueprint(blueprint)
    csrf.exempt(api)  # the API authenticates with bearer tokens, never with cookies

    templating.install(app)
    doors.install(app)
    # After the doors: the per-person limits (panel_app.throttling) need the caller the doors' route
    # guard identifies, and Flask runs before-request hooks in the order they were registered.
    limiter.init_app(app)
    cli.install(app)
    return app
