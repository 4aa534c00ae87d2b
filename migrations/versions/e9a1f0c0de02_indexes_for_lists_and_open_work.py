"""indexes for lists and open work

Lists that do not grow with history (issue 9, point 7):
- customer_order (status, id): GET /api/v1/orders?status=... reads its page in id order from the index;
- fulfilment (location_id, order_id): ?location=... is an EXISTS answered by the index alone;
- fulfilment (location_id, id): the newest fulfilment of a store (the queue's "new work arrived");
- fulfilment (location_id, created_at): what a store was given since local midnight (sourcing's capacity);
- fulfilment (location_id, status) WHERE status is open: queue tabs and lists, sourcing's workload, over
  open work only (a few rows per store), however many shipped or cancelled fulfilments the store has;
- fulfilment (location_id) is dropped: every new fulfilment index leads with location_id.

On PostgreSQL every index is built and dropped CONCURRENTLY, outside the migration's transaction (an
autocommit block), so a live chain keeps taking orders while it runs: a plain CREATE INDEX would lock
customer_order and fulfilment, the hottest tables, against writes for the whole build. CONCURRENTLY cannot
run inside a transaction, hence the autocommit block; what ran before it in the same upgrade is committed
first. If a concurrent build fails (a deadlock, a cancel), PostgreSQL leaves an INVALID index behind: drop
it (DROP INDEX CONCURRENTLY name) and run the upgrade again. SQLite builds them in the ordinary way.

Revision ID: e9a1f0c0de02
Revises: e9a1f0c0de01
Create Date: 2026-11-30 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de02'
down_revision = 'e9a1f0c0de01'
branch_labels = None
depends_on = None

# app.core.models.orders.OPEN_STATUSES, written out: a migration must not change when the code does.
OPEN_WHERE = sa.text(
    "status IN ('created', 'accepted', 'picking', 'picked', 'packed', 'ready_for_pickup')"
)

INDEXES = [
    ('ix_customer_order_status_id', 'customer_order', ['status', 'id'], {}),
    ('ix_fulfilment_location_id_order_id', 'fulfilment', ['location_id', 'order_id'], {}),
    ('ix_fulfilment_location_id_id', 'fulfilment', ['location_id', 'id'], {}),
    ('ix_fulfilment_location_id_created_at', 'fulfilment', ['location_id', 'created_at'], {}),
    (
        'ix_fulfilment_open_location_id_status',
        'fulfilment',
        ['location_id', 'status'],
        {'postgresql_where': OPEN_WHERE, 'sqlite_where': OPEN_WHERE},
    ),
]


def _online():
    """On PostgreSQL: build and drop without locking writers (see above)."""
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    if _online():
        with op.get_context().autocommit_block():
            for name, table, columns, where in INDEXES:
                op.create_index(name, table, columns, unique=False, postgresql_concurrently=True, **where)
            op.drop_index('ix_fulfilment_location_id', table_name='fulfilment', postgresql_concurrently=True)
    else:
        for name, table, columns, where in INDEXES:
            op.create_index(name, table, columns, unique=False, **where)
        op.drop_index('ix_fulfilment_location_id', table_name='fulfilment')


def downgrade():
    if _online():
        with op.get_context().autocommit_block():
            op.create_index(
                'ix_fulfilment_location_id', 'fulfilment', ['location_id'], unique=False, postgresql_concurrently=True
            )
            for name, table, _, _ in reversed(INDEXES):
                op.drop_index(name, table_name=table, postgresql_concurrently=True)
    else:
        op.create_index('ix_fulfilment_location_id', 'fulfilment', ['location_id'], unique=False)
        for name, table, _, _ in reversed(INDEXES):
            op.drop_index(name, table_name=table)
