"""carrier collection times per store, and orders found by their channel reference alone

A packed parcel waits for its carrier: it is late only when it misses the carrier's collection at its store, not
when the order's ready-by time passes (the floor showed packed work as "late by 5 h 56 min" while the van was still
to come). carrier_collection holds, per store and carrier, the time of day the carrier collects, in store time.
A new, empty table: nothing to backfill, no lock on a busy table.

The counter look-up (app.core.floor.lookup) finds an order by the reference its channel gave it, whatever the channel:
uq_customer_order_channel_ref leads with channel, so customer_order (external_ref) is added, else every scan of an
unknown code would read the whole order history. Built and dropped CONCURRENTLY on PostgreSQL, in an autocommit
block, as in e9a1f0c0de02 (customer_order takes every new order); a failed build leaves an INVALID index: DROP
INDEX CONCURRENTLY ix_customer_order_external_ref, then upgrade again.

Revision ID: e9a1f0c0de05
Revises: e9a1f0c0de04
Create Date: 2026-12-01 02:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de05'
down_revision = 'e9a1f0c0de04'
branch_labels = None
depends_on = None

INDEX = 'ix_customer_order_external_ref'


def upgrade():
    op.create_table(
        'carrier_collection',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('location_id', sa.Integer(), nullable=False),
        sa.Column('carrier_id', sa.Integer(), nullable=False),
        sa.Column('collect_at', sa.Time(), nullable=False),
        sa.ForeignKeyConstraint(['carrier_id'], ['carrier.id'], name=op.f('fk_carrier_collection_carrier_id_carrier'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_carrier_collection_location_id_location'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_carrier_collection')),
        sa.UniqueConstraint('location_id', 'carrier_id', name='uq_carrier_collection_location_carrier'),
    )

    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index(INDEX, 'customer_order', ['external_ref'], postgresql_concurrently=True)
    else:
        op.create_index(INDEX, 'customer_order', ['external_ref'])


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name='customer_order', postgresql_concurrently=True)
    else:
        op.drop_index(INDEX, table_name='customer_order')
    op.drop_table('carrier_collection')
