"""stock change feed: movement positions in commit order and the on-hand each movement left

The ERP follows GET /api/v1/stock/changes?after=<cursor>. Like the event feed (e9a1f0c0de01), the cursor is a
position given after commit by a sequencer that runs one at a time, so a movement whose transaction took a lower
id but committed later is never skipped. on_hand_after is the on-hand figure the movement left, written with it;
movements written before this revision have none (the feed answers null for them).

Existing movements keep position = id, so the sequencer numbers only what is written from now on (and sends no
stock.changed webhook for the history). That UPDATE rewrites every ledger row once: on a long ledger run it in a
quiet hour. The unique index is built CONCURRENTLY on PostgreSQL, in an autocommit block, as in e9a1f0c0de05; a
failed build leaves an INVALID index: DROP INDEX CONCURRENTLY ix_stock_movement_position, then upgrade again.

Revision ID: e9a1f0c0de07
Revises: e9a1f0c0de06
Create Date: 2026-12-01 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de07'
down_revision = 'e9a1f0c0de06'
branch_labels = None
depends_on = None

INDEX = 'ix_stock_movement_position'


def upgrade():
    with op.batch_alter_table('stock_movement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('on_hand_after', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('position', sa.Integer(), nullable=True))
    op.execute("UPDATE stock_movement SET position = id")
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index(INDEX, 'stock_movement', ['position'], unique=True, postgresql_concurrently=True)
    else:
        op.create_index(INDEX, 'stock_movement', ['position'], unique=True)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name='stock_movement', postgresql_concurrently=True)
    else:
        op.drop_index(INDEX, table_name='stock_movement')
    with op.batch_alter_table('stock_movement', schema=None) as batch_op:
        batch_op.drop_column('position')
        batch_op.drop_column('on_hand_after')
