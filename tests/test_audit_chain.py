"""Nobody can rewrite the audit trail unseen.

* On PostgreSQL the application logs in as a role that may only SELECT and INSERT on the audit
  table: it cannot change, delete, truncate, or lift the triggers that keep it append-only. Every
  other table it reads and writes as usual.
* Each row carries a hash chained to the row before; ``flask audit verify`` says the chain holds, or
  names the first row that does not match once the owner (who still can) changes or deletes a row.
* The chain stays one line when several writers commit at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select
from sqlalchemy.exc import DatabaseError

from panel_app import audit
from panel_app.models import AuditEvent, Role, db
from panel_app.models.audit import HASHED_FIELDS, chain_hash
from tests.conftest import FreshDatabases, build_app
from tests.factories import make_user

ON_SQLITE = "SQLite has no roles: the app and the owner are the same; run with TEST_DATABASE_URL"


@pytest.fixture(scope="module")
def dialect(databases: FreshDatabases) -> str:
    return databases.dialect


def _verify(app: Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, result.output


def _write(actions: list[str], by_somebody: bool = True) -> list[int]:
    """Audit rows as the app writes them: recorded, then committed."""
    broker = make_user(Role.BROKER) if by_somebody else None
    for action in actions:
        audit.record(action, actor=broker, record_type="referral", record_id=7, detail={"why": action, "n": [1, 2]})
    db.session.commit()
    return list(db.session.scalars(select(AuditEvent.id).where(AuditEvent.action.in_(actions)).order_by(AuditEvent.id)))


# --- The application's role ----------------------------------------------------------------------


@pytest.mark.parametrize("statement, refusal", [
    ("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only", "must be owner"),
    ("ALTER TABLE audit_event DISABLE TRIGGER ALL", "must be owner"),
    ("DROP TRIGGER audit_event_append_only ON audit_event", "must be owner"),
    ("TRUNCATE audit_event", "permission denied"),
    ("UPDATE audit_event SET action = 'rewritten'", "permission denied"),
    ("DELETE FROM audit_event", "permission denied"),
    ("ALTER TABLE audit_event DROP COLUMN hash", "must be owner"),
    ("DROP TABLE audit_event", "must be owner"),
])
def test_the_apps_role_cannot_rewrite_the_audit_trail(dialect: str, statement: str, refusal: str) -> None:
    if dialect != "postgresql":
        pytest.skip(ON_SQLITE)
    _write(["sign_in"])
    savepoint = db.session.begin_nested()
    with pytest.raises(DatabaseError, match=refusal):
        db.session.execute(sa.text(statement))
    savepoint.rollback()
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "sign_in")) == "sign_in"


def test_the_apps_role_may_read_and_write_every_other_table(dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip(ON_SQLITE)
    role = db.session.scalar(sa.text("SELECT current_user"))
    tables = db.session.scalars(sa.text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")).all()
    assert set(db.metadata.tables) <= set(tables)

    def may(table: str, privilege: str) -> bool:
        return db.session.scalar(sa.text("SELECT has_table_privilege(current_user, :t, :p)"),
                                 {"t": table, "p": privilege})

    granted = {table: {p for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
                       if may(table, p)} for table in tables}
    assert granted.pop("audit_event") == {"SELECT", "INSERT"}
    assert granted.pop("alembic_version") == {"SELECT"}
    assert granted == {table: {"SELECT", "INSERT", "UPDATE", "DELETE"} for table in granted}
    owners = set(db.session.scalars(sa.text("SELECT tableowner FROM pg_tables WHERE schemaname = current_schema()")))
    assert role not in owners


def test_the_apps_normal_writes_work_as_its_role(app: Flask) -> None:
    """The demo installation writes to nearly every table, through the services; then the daily
    reminders; all as the app's role on PostgreSQL."""
    runner = app.test_cli_runner()
    seeded = runner.invoke(args=["seed-demo"])
    assert seeded.exit_code == 0, seeded.output
    reminded = runner.invoke(args=["send-reminders"])
    assert reminded.exit_code == 0, reminded.output
    assert db.session.scalar(select(sa.func.count()).select_from(AuditEvent)) > 0
    assert _verify(app)[0] == 0


def test_db_roles_grant_refuses_a_role_that_does_not_exist_and_sqlite(app: Flask, dialect: str) -> None:
    result = app.test_cli_runner().invoke(args=["db-roles", "grant", "nobody_at_all_here"])
    assert result.exit_code == 1
    expected = "There is no database role called" if dialect == "postgresql" else "SQLite has none"
    assert expected in result.output


def test_db_roles_grant_refuses_the_role_that_owns_the_tables(app: Flask, databases: FreshDatabases,
                                                              dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip(ON_SQLITE)
    owner = sa.engine.make_url(databases.server_url).username
    result = app.test_cli_runner().invoke(args=["db-roles", "grant", owner])
    assert result.exit_code == 1
    assert "owns the tables, so it could rewrite the audit trail" in result.output


# --- The chain -----------------------------------------------------------------------------------


def test_each_row_is_chained_to_the_row_before(app: Flask) -> None:
    _write(["referral.view", "referral.update"])
    _write(["referral.export"])
    rows = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [row.prev_hash for row in rows] == [None] + [row.hash for row in rows[:-1]]
    for row in rows:
        assert len(row.hash) == 64 and int(row.hash, 16) >= 0
        assert row.hash == chain_hash({name: getattr(row, name) for name in HASHED_FIELDS}, row.prev_hash)
    assert len({row.hash for row in rows}) == len(rows)


def test_verify_passes_on_a_fresh_chain(app: Flask) -> None:
    assert _verify(app) == (0, "0 rows, the chain holds.\n")
    _write(["sign_in", "referral.view", "referral.update"], by_somebody=False)
    code, output = _verify(app)
    newest = db.session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    assert (code, output) == (0, f"3 rows, the chain holds.\nThe newest row's hash is {newest}.\n")


# Tampering needs the owner, whose changes are committed for real: each test has a database of its own.


@pytest.fixture
def own_database(databases: FreshDatabases) -> Iterator[tuple[Flask, sa.Engine]]:
    """The app (logged in as its role) on a fresh database with a committed chain of five rows, and an
    engine logged in as the owner of the tables."""
    url = databases.for_the_app("chain")
    application = build_app(url)
    with application.app_context():
        _write(["one", "two", "three", "four", "five"])
        db.session.remove()
    owner = sa.create_engine(databases.as_owner(url))
    yield application, owner
    owner.dispose()
    with application.app_context():
        db.engine.dispose()


def _as_owner(owner: sa.Engine, statement: str) -> None:
    """Lift the append-only triggers, run ``statement``, put the triggers back: what the owner can do."""
    with owner.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
            connection.exec_driver_sql(statement)
            connection.exec_driver_sql("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only")
        else:
            connection.exec_driver_sql("DROP TRIGGER audit_event_no_update")
            connection.exec_driver_sql("DROP TRIGGER audit_event_no_delete")
            connection.exec_driver_sql(statement)
            for verb in ("UPDATE", "DELETE"):
                connection.exec_driver_sql(
                    f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                    "BEGIN SELECT RAISE(ABORT, 'audit events are never changed or deleted'); END")


def _ids(application: Flask) -> dict[str, int]:
    with application.app_context():
        found = {action: id_ for action, id_ in db.session.execute(select(AuditEvent.action, AuditEvent.id))}
        db.session.remove()
    return found


def test_verify_names_the_row_the_owner_edited(own_database: tuple[Flask, sa.Engine]) -> None:
    application, owner = own_database
    ids = _ids(application)
    with application.app_context():
        assert _verify(application)[0] == 0

    _as_owner(owner, f"UPDATE audit_event SET actor_email = 'someone.else@example.org' WHERE id = {ids['three']}")

    with application.app_context():
        code, output = _verify(application)
    assert code == 1
    assert f"The chain is broken at row {ids['three']}: its contents do not match its hash" in output


def test_verify_names_the_row_after_one_the_owner_rewrote_with_a_fresh_hash(
        own_database: tuple[Flask, sa.Engine]) -> None:
    application, owner = own_database
    ids = _ids(application)
    with application.app_context():
        row = db.session.get(AuditEvent, ids["two"])
        fields = {name: getattr(row, name) for name in HASHED_FIELDS} | {"action": "nothing.to.see"}
        forged = chain_hash(fields, row.prev_hash)
        db.session.remove()

    _as_owner(owner, f"UPDATE audit_event SET action = 'nothing.to.see', hash = '{forged}' WHERE id = {ids['two']}")

    with application.app_context():
        code, output = _verify(application)
    assert code == 1
    assert f"The chain is broken at row {ids['three']}: it does not follow row {ids['two']}" in output


def test_verify_names_the_row_after_one_the_owner_deleted(own_database: tuple[Flask, sa.Engine]) -> None:
    application, owner = own_database
    ids = _ids(application)

    _as_owner(owner, f"DELETE FROM audit_event WHERE id = {ids['four']}")

    with application.app_context():
        code, output = _verify(application)
    assert code == 1
    assert f"The chain is broken at row {ids['five']}: it does not follow row {ids['three']}" in output


def test_verify_names_the_first_row_when_the_owner_deleted_the_start(own_database: tuple[Flask, sa.Engine]) -> None:
    application, owner = own_database
    ids = _ids(application)
    first = min(ids.values())

    _as_owner(owner, f"DELETE FROM audit_event WHERE id = {first}")

    with application.app_context():
        code, output = _verify(application)
    assert code == 1
    assert f"The chain is broken at row {sorted(ids.values())[1]}: it is the first row but names a row before it" \
        in output


def test_the_chain_holds_under_concurrent_writers(databases: FreshDatabases, dialect: str) -> None:
    """Eight threads commit audit rows at the same moment, each many times: the chain is one line."""
    if dialect != "postgresql":
        pytest.skip("SQLite lets one writer at a time (a second is refused outright); run with TEST_DATABASE_URL")
    application = build_app(databases.for_the_app("chain_concurrent"))
    with application.app_context():
        broker_id = make_user(Role.BROKER).id
        db.session.commit()
        db.session.remove()
    threads, rounds = 8, 15
    start = threading.Barrier(threads, timeout=30)
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            with application.app_context():
                from panel_app.models import User

                broker = db.session.get(User, broker_id)
                start.wait()
                for round_ in range(rounds):
                    audit.record("concurrent", actor=broker, detail={"writer": number, "round": round_})
                    audit.record("concurrent", actor=broker, detail={"writer": number, "round": round_, "second": True})
                    db.session.commit()
                db.session.remove()
        except BaseException as error:  # reported below, not lost in the thread
            failures.append(error)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert failures == []
    with application.app_context():
        assert db.session.scalar(select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "concurrent")) == threads * rounds * 2
        code, output = _verify(application)
        db.engine.dispose()
    assert code == 0, output
    assert output.startswith(f"{threads * rounds * 2} rows, the chain holds.")


def test_the_migration_chains_the_rows_already_there(databases: FreshDatabases) -> None:
    """Rows written before the chain existed are chained, in id order, by the migration, exactly as
    verify checks them (non-ASCII text, JSON details and instants included)."""
    url = databases.new("chain_backfill")
    application = build_app(url)
    with application.app_context():
        upgrade(revision="0006_action_update_day")
        rows = [
            {"occurred_at": datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC), "action": "sign_in",
             "actor_email": "siân.ifans@example.org", "detail": None, "channel": "web"},
            {"occurred_at": datetime(2026, 3, 1, 9, 31, tzinfo=UTC), "action": "referral.view", "record_type": "referral",
             "record_id": 3, "detail": {"pathways": ["health", "ete"], "z": 1, "a": {"ŵ": 2.5}}, "channel": "api"},
            {"occurred_at": datetime(2026, 3, 2, tzinfo=UTC), "action": "sign_in.failed",
             "actor_email": "who@example.org", "detail": {}, "channel": "web"},
        ]
        table = sa.table("audit_event", *(sa.column(name) for name in ("occurred_at", "action", "actor_email",
                                                                         "record_type", "record_id", "channel")),
                         sa.column("detail", sa.JSON()))
        with db.engine.begin() as connection:
            for row in rows:
                connection.execute(table.insert().values(**row))
        upgrade()
        stored = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        assert [row.action for row in stored] == ["sign_in", "referral.view", "sign_in.failed"]
        assert stored[0].prev_hash is None and stored[1].prev_hash == stored[0].hash
        code, output = _verify(application)
        assert (code, output.splitlines()[0]) == (0, "3 rows, the chain holds.")
        # And the app goes on from the backfilled chain.
        audit.record("after", actor=None, detail={"k": json.dumps("v")})
        db.session.commit()
        assert _verify(application)[1].startswith("4 rows, the chain holds.")
        db.session.remove()
        db.engine.dispose()
