"""The migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from panel_app.extensions import db
from tests.conftest import FreshDatabases, build_app


def test_upgrade_builds_what_the_models_describe_and_downgrade_removes_it(databases: FreshDatabases) -> None:
    app = build_app(databases.new("migrations"))
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == [], f"models and migrations disagree: {differences}"

        downgrade(revision="base")
        left = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert left == set()

        upgrade()  # and back up again, as a deployment rollback-and-retry would
        assert {"user_account", "agency", "partnership", "audit_event", "api_token"} <= set(
            sa.inspect(db.engine).get_table_names()
        )
        db.engine.dispose()
