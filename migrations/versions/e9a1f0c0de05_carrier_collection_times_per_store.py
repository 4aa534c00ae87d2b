"""carrier collection times per store

A packed parcel waits for its carrier: it is late only when it misses the carrier's collection at its store, not
when the order's ready-by time passes (the floor showed packed work as "late by 5 h 56 min" while the van was still
to come). carrier_collection holds, per store and carrier, the time of day the carrier collects, in store time.
A new, empty table: nothing to backfill, no lock on a busy table.

Revision ID: e9a1f0c0de05
Revises: e9a1f0c0de03
Create Date: 2026-12-01 02:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de05'
down_revision = 'e9a1f0c0de03'
branch_labels = None
depends_on = None


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


def downgrade():
    op.drop_table('carrier_collection')
