"""room for every scope on an API client

api_client.scopes held 200 characters; with the customer service and customers' data scopes, a client given every
scope names about 230. Widened to 1000: on PostgreSQL a longer varchar is a catalogue change (no table rewrite, a
brief lock); SQLite does not enforce lengths (the batch copy keeps the model's schema).

Revision ID: e9a1f0c0de15
Revises: e9a1f0c0de14
Create Date: 2026-12-01 15:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de15'
down_revision = 'e9a1f0c0de14'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.alter_column('scopes', existing_type=sa.String(length=200), type_=sa.String(length=1000))


def downgrade():
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.alter_column('scopes', existing_type=sa.String(length=1000), type_=sa.String(length=200))
