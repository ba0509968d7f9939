"""server-side sessions that can be listed and ended; when each API token was last used

Revision ID: 0008_user_sessions
Revises: 0007_audit_chain
Create Date: 2026-12-07 22:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0008_user_sessions'
down_revision = '0007_audit_chain'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'user_session',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('user_agent', sa.String(length=255), nullable=True),
        sa.Column('ip', sa.String(length=45), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_session_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
    )
    with op.batch_alter_table('user_session') as batch:
        batch.create_index(batch.f('ix_user_session_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('api_token') as batch:
        batch.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
    # Calendar feed links of people already deactivated are ended now, so that reactivating them
    # cannot bring an old link back (deactivation ends them from now on).
    user_account = sa.table('user_account', sa.column('active', sa.Boolean()),
                            sa.column('calendar_token_digest', sa.String()))
    op.execute(user_account.update().where(user_account.c.active == sa.false()).values(calendar_token_digest=None))


def downgrade():
    with op.batch_alter_table('api_token') as batch:
        batch.drop_column('last_used_at')
    with op.batch_alter_table('user_session') as batch:
        batch.drop_index(batch.f('ix_user_session_user_id'))
    op.drop_table('user_session')
