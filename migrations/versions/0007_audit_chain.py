"""audit rows carry a hash chained to the row before, so a rewritten or removed row is evident

Revision ID: 0007_audit_chain
Revises: 0006_action_update_day
Create Date: 2026-12-07 22:10:00

"""
import hashlib
import json
from datetime import UTC

from alembic import op
import sqlalchemy as sa

revision = '0007_audit_chain'
down_revision = '0006_action_update_day'
branch_labels = None
depends_on = None

BATCH = 1000

# A frozen copy of panel_app.models.audit.chain_hash as it was when this migration was written
# (migrations never import application code); `flask audit verify` checks the rows backfilled here
# with the application's own copy, so the two must agree (tests/test_audit_chain.py checks that).
HASHED_FIELDS = (
    "occurred_at", "actor_user_id", "actor_email", "actor_role", "actor_agency_id", "action",
    "record_type", "record_id", "ip_address", "user_agent", "channel", "detail",
)


def _chain_hash(fields, prev_hash):
    document = {name: fields[name] for name in HASHED_FIELDS}
    occurred_at = document["occurred_at"]
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    document["occurred_at"] = occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    document["prev_hash"] = prev_hash
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


audit_event = sa.table(
    'audit_event',
    sa.column('id', sa.Integer()),
    sa.column('occurred_at', sa.DateTime(timezone=True)),
    sa.column('actor_user_id', sa.Integer()),
    sa.column('actor_email', sa.String()),
    sa.column('actor_role', sa.String()),
    sa.column('actor_agency_id', sa.Integer()),
    sa.column('action', sa.String()),
    sa.column('record_type', sa.String()),
    sa.column('record_id', sa.Integer()),
    sa.column('ip_address', sa.String()),
    sa.column('user_agent', sa.String()),
    sa.column('channel', sa.String()),
    sa.column('detail', sa.JSON()),
    sa.column('prev_hash', sa.String()),
    sa.column('hash', sa.String()),
)

SET_HASHES = (
    audit_event.update()
    .where(audit_event.c.id == sa.bindparam('row_id'))
    .values(prev_hash=sa.bindparam('new_prev_hash'), hash=sa.bindparam('new_hash'))
)


def upgrade():
    dialect = op.get_bind().dialect.name
    # The append-only triggers refuse the backfill's UPDATEs; the owner lifts them for this one
    # transaction. (SQLite's batch mode also rebuilds the table, which would drop them anyway.)
    _lift_append_only(dialect)
    with op.batch_alter_table('audit_event') as batch:
        batch.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    _backfill()
    with op.batch_alter_table('audit_event') as batch:
        batch.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
    _restore_append_only(dialect)


def _backfill():
    """Chain the rows already there, in id order, in batches."""
    connection = op.get_bind()
    previous, last_id = None, 0
    while True:
        rows = connection.execute(
            sa.select(audit_event).where(audit_event.c.id > last_id).order_by(audit_event.c.id).limit(BATCH)
        ).mappings().all()
        if not rows:
            return
        chained = []
        for row in rows:
            digest = _chain_hash(row, previous)
            chained.append({"row_id": row["id"], "new_prev_hash": previous, "new_hash": digest})
            previous, last_id = digest, row["id"]
        connection.execute(SET_HASHES, chained)


def downgrade():
    dialect = op.get_bind().dialect.name
    _lift_append_only(dialect)
    with op.batch_alter_table('audit_event') as batch:
        batch.drop_column('hash')
        batch.drop_column('prev_hash')
    _restore_append_only(dialect)


def _lift_append_only(dialect):
    if dialect == 'postgresql':
        op.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
    elif dialect == 'sqlite':
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")


def _restore_append_only(dialect):
    # As 0001_foundation made them.
    if dialect == 'postgresql':
        op.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only")
    elif dialect == 'sqlite':
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit events are never changed or deleted'); END"
            )
