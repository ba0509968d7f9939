"""the outbox: emails kept, with their attachments, beside the change they are about until a worker delivers them

Retried with back-off, their fate shown on the record's page. Replaces ``sent_email``, which
recorded an email but not its body, so nothing could be retried.

Revision ID: 0010_outbox
Revises: 0009_pathway_of_free_text
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0010_outbox'
down_revision = '0009_pathway_of_free_text'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('outbox_email',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('record_type', sa.String(length=20), nullable=True),
    sa.Column('record_id', sa.Integer(), nullable=True),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('sent_by_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_outbox_email_agency_id_agency')),
    sa.ForeignKeyConstraint(['meeting_id'], ['panel_meeting.id'], name=op.f('fk_outbox_email_meeting_id_panel_meeting')),
    sa.ForeignKeyConstraint(['sent_by_id'], ['user_account.id'], name=op.f('fk_outbox_email_sent_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_email')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_email_dedupe_key'))
    )
    with op.batch_alter_table('outbox_email', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_email_about', ['record_type', 'record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_email_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_email_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_email_sent_by_id'), ['sent_by_id'], unique=False)

    op.create_table('outbox_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['email_id'], ['outbox_email.id'], name=op.f('fk_outbox_attachment_email_id_outbox_email'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_attachment'))
    )
    with op.batch_alter_table('outbox_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_attachment_email_id'), ['email_id'], unique=False)

    # The emails recorded so far keep their history. Their bodies were never kept, so one that was
    # not sent cannot be retried: it is shown as failed, with the reason it had.
    op.execute(
        "INSERT INTO outbox_email (id, recipient, subject, body_text, kind, dedupe_key, agency_id, meeting_id,"
        " record_type, record_id, message_id, created_at, attempts, sent_at, failed_at, error)"
        " SELECT id, recipient, subject, '', kind, dedupe_key, agency_id, meeting_id,"
        " CASE WHEN meeting_id IS NULL THEN NULL ELSE 'meeting' END, meeting_id,"
        " '<sent-email-' || id || '@panels.invalid>', created_at, 1, sent_at,"
        " CASE WHEN sent_at IS NULL THEN created_at END,"
        " CASE WHEN sent_at IS NULL THEN COALESCE(error, 'not sent') END"
        " FROM sent_email"
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SELECT setval(pg_get_serial_sequence('outbox_email', 'id'),"
                   " COALESCE((SELECT MAX(id) FROM outbox_email), 0) + 1, false)")

    with op.batch_alter_table('sent_email', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sent_email_kind'))
    op.drop_table('sent_email')


def downgrade():
    op.create_table('sent_email',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_sent_email_agency_id_agency')),
    sa.ForeignKeyConstraint(['meeting_id'], ['panel_meeting.id'], name=op.f('fk_sent_email_meeting_id_panel_meeting')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sent_email')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_sent_email_dedupe_key'))
    )
    with op.batch_alter_table('sent_email', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sent_email_kind'), ['kind'], unique=False)
    # Emails still queued when stepping back are lost with their bodies: the old table cannot hold them.
    op.execute(
        "INSERT INTO sent_email (id, recipient, subject, kind, dedupe_key, agency_id, meeting_id, created_at,"
        " sent_at, error) SELECT id, recipient, subject, kind, dedupe_key, agency_id, meeting_id, created_at,"
        " sent_at, error FROM outbox_email"
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SELECT setval(pg_get_serial_sequence('sent_email', 'id'),"
                   " COALESCE((SELECT MAX(id) FROM sent_email), 0) + 1, false)")
    with op.batch_alter_table('outbox_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_attachment_email_id'))
    op.drop_table('outbox_attachment')
    with op.batch_alter_table('outbox_email', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_email_sent_by_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_email_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_outbox_email_kind'))
        batch_op.drop_index('ix_outbox_email_about')
    op.drop_table('outbox_email')
