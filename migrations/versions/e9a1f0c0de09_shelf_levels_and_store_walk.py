"""a shelf place has a level (aisle-bay-level), and a store has a walking order of its aisles

Shelf places come from retailers' files and screens as aisle-bay-level ("A3-12-2"); the pick path follows the store's
walk, the order in which an associate passes its aisles (location.walk, a JSON list; NULL: aisles in natural order).
New columns with constant defaults (or NULL): PostgreSQL adds them without rewriting the tables.

Revision ID: e9a1f0c0de09
Revises: e9a1f0c0de08
Create Date: 2026-12-01 06:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de09'
down_revision = 'e9a1f0c0de08'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('shelf_location') as batch_op:
        batch_op.add_column(sa.Column('level', sa.String(length=8), nullable=False, server_default=''))
    with op.batch_alter_table('location') as batch_op:
        batch_op.add_column(sa.Column('walk', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('location') as batch_op:
        batch_op.drop_column('walk')
    with op.batch_alter_table('shelf_location') as batch_op:
        batch_op.drop_column('level')
