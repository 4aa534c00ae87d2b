"""event feed positions in commit order

Every outbox event gets a position after it commits, given by a sequencer that runs one at a time, so the
pull feed (GET /api/v1/events?after=<position>) follows commit order and never skips an event that committed
after one with a higher id. Existing events keep position = id, so cursors held by clients stay valid.

Revision ID: e9a1f0c0de01
Revises: 86584e6bb6cb
Create Date: 2026-11-30 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de01'
down_revision = '86584e6bb6cb'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), nullable=True))
    # Old cursors were ids: the events already there keep their id as position.
    op.execute("UPDATE outbox_event SET position = id")
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_event_position'), ['position'], unique=True)


def downgrade():
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_event_position'))
        batch_op.drop_column('position')
