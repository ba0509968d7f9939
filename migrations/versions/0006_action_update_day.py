"""action updates keep the day in Wales they were made, so "done on time" is counted by the panel's calendar

Revision ID: 0006_action_update_day
Revises: 0005_gaps
Create Date: 2026-11-29 23:55:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0006_action_update_day'
down_revision = '0005_gaps'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('action_update') as batch:
        batch.add_column(sa.Column('day', sa.Date(), nullable=True))
    # Existing rows: the day in Wales of their instant. SQLite has no time zones; its rows (development
    # databases only) take the UTC day, at most an hour early.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("UPDATE action_update SET day = (at AT TIME ZONE 'Europe/London')::date")
    else:
        op.execute("UPDATE action_update SET day = date(at)")
    with op.batch_alter_table('action_update') as batch:
        batch.alter_column('day', existing_type=sa.Date(), nullable=False)


def downgrade():
    with op.batch_alter_table('action_update') as batch:
        batch.drop_column('day')
