"""free text says which pathway it is about: an update's pathway, and the chair's notes per pathway

A health or substance-misuse update or note reaches only the broker, the referrer and the agencies
working on that pathway (issue 9); a general one (no pathway) reaches everyone who sees the case.
Existing updates and notes stay general, as they were read until now.

Revision ID: 0009_pathway_of_free_text
Revises: 0008_user_sessions
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0009_pathway_of_free_text'
down_revision = '0008_user_sessions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('update_request') as batch:
        batch.add_column(sa.Column('pathway', sa.String(length=32), nullable=True))
    op.create_table('agenda_note',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agenda_item_id', sa.Integer(), nullable=False),
    sa.Column('pathway', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('written_by_id', sa.Integer(), nullable=False),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agenda_item_id'], ['agenda_item.id'], name=op.f('fk_agenda_note_agenda_item_id_agenda_item'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['written_by_id'], ['user_account.id'], name=op.f('fk_agenda_note_written_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agenda_note')),
    sa.UniqueConstraint('agenda_item_id', 'pathway', name=op.f('uq_agenda_note_agenda_item_id_pathway'))
    )


def downgrade():
    op.drop_table('agenda_note')
    with op.batch_alter_table('update_request') as batch:
        batch.drop_column('pathway')
