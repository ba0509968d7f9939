"""The application's database role on PostgreSQL: what it may do to each table.

The tables belong to the owner, who runs the migrations; the application logs in as another role
that may read and write the records but only add to the audit trail (SELECT and INSERT), so that it
cannot rewrite, truncate, or disable the triggers of the audit table. docs/operations.md: "PostgreSQL with two roles".
"""

from __future__ import annotations

from sqlalchemy import inspect, text

from panel_app.errors import RuleBroken
from panel_app.extensions import db
from panel_app.models import AuditEvent

# Tables the application only reads: the migrations' own bookkeeping.
READ_ONLY_TABLES = frozenset({"alembic_version"})


def grant_application_role(role: str) -> list[str]:
    """Grant ``role`` what the application needs on every table of this database, and no more on
    the audit trail; run as the tables' owner after every upgrade. Returns the statements run."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        raise RuleBroken("Database roles are a PostgreSQL feature; SQLite has none, so there is nothing to grant.")
    if connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}) is None:
        raise RuleBroken(f"There is no database role called {role!r}. Create it first: CREATE ROLE {role} LOGIN;")
    audit_table = AuditEvent.__tablename__
    owner = connection.scalar(text("SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() "
                                   "AND tablename = :table"), {"table": audit_table})
    if owner is None:
        raise RuleBroken("The tables do not exist yet: run `flask --app panel_app db upgrade` first.")
    if owner == role:
        raise RuleBroken(f"{role!r} owns the tables, so it could rewrite the audit trail. The application must "
                         "log in as a different role from the one that runs the migrations.")

    quote = connection.dialect.identifier_preparer.quote
    grantee = quote(role)
    statements = [
        f"GRANT CONNECT ON DATABASE {quote(connection.scalar(text('SELECT current_database()')))} TO {grantee}",
        f"GRANT USAGE ON SCHEMA {quote(connection.scalar(text('SELECT current_schema()')))} TO {grantee}",
    ]
    for table in sorted(inspect(connection).get_table_names()):
        # REVOKE first, so running it again also takes back anything granted by hand since.
        statements.append(f"REVOKE ALL ON TABLE {quote(table)} FROM {grantee}")
        if table == audit_table:
            privileges = "SELECT, INSERT"
        elif table in READ_ONLY_TABLES:
            privileges = "SELECT"
        else:
            privileges = "SELECT, INSERT, UPDATE, DELETE"
        statements.append(f"GRANT {privileges} ON TABLE {quote(table)} TO {grantee}")
    # New rows take their ids from sequences.
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "
                      f"{quote(connection.scalar(text('SELECT current_schema()')))} TO {grantee}")
    for statement in statements:
        connection.exec_driver_sql(statement)
    return statements
