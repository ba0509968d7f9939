"""an agency's area and whether it is active (the administrator's agency pages)

Revision ID: 0012_agency_area_and_active
Revises: 0011_account_links
Create Date: 2026-12-08 02:20:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0012_agency_area_and_active'
down_revision = '0011_account_links'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('agency') as batch_op:
        batch_op.add_column(sa.Column('area', sa.String(length=120), nullable=True))
        # Every agency there is today is working: active until an administrator says otherwise.
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade():
    with op.batch_alter_table('agency') as batch_op:
        batch_op.drop_column('active')
        batch_op.drop_column('area')
