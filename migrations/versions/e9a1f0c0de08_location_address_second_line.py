"""a location's address has a second line, as retailers' systems send it

PUT /api/v1/locations/{code} takes `address: {line1, line2, postcode, city, country}`. A new column with a constant
default: PostgreSQL 11+ adds it without rewriting the table.

Revision ID: e9a1f0c0de08
Revises: e9a1f0c0de07
Create Date: 2026-12-01 06:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de08'
down_revision = 'e9a1f0c0de07'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('location') as batch_op:
        batch_op.add_column(sa.Column('address_line2', sa.String(length=200), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('location') as batch_op:
        batch_op.drop_column('address_line2')
