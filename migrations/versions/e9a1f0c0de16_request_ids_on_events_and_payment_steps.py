"""the request that wrote an event or a payment step

outbox_event.request_id and payment_transaction.request_id: the X-Request-ID of the request (or the id of the
worker job) that wrote the row, so the worker's job that delivers the event or calls the payment provider logs it
and a webhook carries it as X-Request-ID (docs/OPERATIONS.md). Nullable, no default: rows written before have none;
adding them is a catalogue change on PostgreSQL.

Revision ID: e9a1f0c0de16
Revises: e9a1f0c0de15
Create Date: 2026-12-01 16:05:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de16'
down_revision = 'e9a1f0c0de15'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=128), nullable=True))
    with op.batch_alter_table('payment_transaction', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=128), nullable=True))


def downgrade():
    with op.batch_alter_table('payment_transaction', schema=None) as batch_op:
        batch_op.drop_column('request_id')
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.drop_column('request_id')
