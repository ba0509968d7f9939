"""single-use account links (invitations, password resets, the first admin's first sign-in); people
invited but without a password yet

Revision ID: 0011_account_links
Revises: 0010_outbox
Create Date: 2026-12-08 09:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0011_account_links'
down_revision = '0010_outbox'
branch_labels = None
depends_on = None

# What a downgrade writes for a person who never chose a password: not an argon2 hash, so it never
# verifies, and the person still cannot sign in with a password.
NO_PASSWORD = '!'


def upgrade():
    op.create_table(
        'account_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('secret_digest', sa.String(length=64), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'],
                                name=op.f('fk_account_link_created_by_id_user_account')),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_account_link_user_id_user_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_link')),
        sa.UniqueConstraint('secret_digest', name=op.f('uq_account_link_secret_digest')),
    )
    with op.batch_alter_table('account_link') as batch:
        batch.create_index(batch.f('ix_account_link_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('user_account') as batch:
        batch.alter_column('password_hash', existing_type=sa.String(length=255), nullable=True)


def downgrade():
    user_account = sa.table('user_account', sa.column('password_hash', sa.String()))
    op.execute(user_account.update().where(user_account.c.password_hash.is_(None)).values(password_hash=NO_PASSWORD))
    with op.batch_alter_table('user_account') as batch:
        batch.alter_column('password_hash', existing_type=sa.String(length=255), nullable=False)
    with op.batch_alter_table('account_link') as batch:
        batch.drop_index(batch.f('ix_account_link_user_id'))
    op.drop_table('account_link')
