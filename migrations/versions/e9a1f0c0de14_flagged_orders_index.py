"""flagged orders from an index

The customer service console counts and lists the orders flagged needs_customer_service (the exception queue and
its badge on every console page; GET /api/v1/orders?needs_customer_service=true): without an index that is a scan
of every order the chain ever had (about 200 ms at 1 M orders). A partial index holds only the flagged few. Built
CONCURRENTLY on PostgreSQL (as e9a1f0c0de10); if the build fails it leaves an INVALID index: drop it
(DROP INDEX CONCURRENTLY ix_customer_order_flagged) and run the upgrade again.

Revision ID: e9a1f0c0de14
Revises: e9a1f0c0de13
Create Date: 2026-12-01 15:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de14'
down_revision = 'e9a1f0c0de13'
branch_labels = None
depends_on = None

INDEX, TABLE = 'ix_customer_order_flagged', 'customer_order'
WHERE = sa.text('needs_customer_service')


def upgrade():
    if op.get_context().dialect.name != 'postgresql':
        op.create_index(INDEX, TABLE, ['id'], unique=False, sqlite_where=WHERE)
        return
    with op.get_context().autocommit_block():
        op.create_index(INDEX, TABLE, ['id'], unique=False, postgresql_where=WHERE, postgresql_concurrently=True)


def downgrade():
    if op.get_context().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name=TABLE, postgresql_concurrently=True)
    else:
        op.drop_index(INDEX, table_name=TABLE)
