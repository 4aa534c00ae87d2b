"""cancelled units, re-shipments and the exact e-mail look-up

1. order_line.cancelled: units of the line that customer service cancelled before they left a store
   (app.core.service.actions.cancel_lines); 0 for every existing line, never more than the line's quantity;
2. fulfilment.reship_of_id: a fulfilment sent again at no charge for a lost or damaged parcel names the shipped one
   it replaces (app.core.service.actions.reship);
3. on PostgreSQL, an index on lower(customer_email): the customer service search tries a whole e-mail exactly first (a btree
   look-up) before the trigram search, whose posting lists for "@gmail.com"'s trigrams span most orders. Built
   CONCURRENTLY on PostgreSQL (as e9a1f0c0de10), so the chain keeps taking orders; if it fails it leaves an INVALID
   index: drop it (DROP INDEX CONCURRENTLY ix_customer_order_lower_email) and run the upgrade again.

Adding a column with a constant default is a catalogue change on PostgreSQL 11 and later (no table rewrite).

Revision ID: e9a1f0c0de11
Revises: e9a1f0c0de10
Create Date: 2026-12-01 15:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de11'
down_revision = 'e9a1f0c0de10'
branch_labels = None
depends_on = None

INDEX = 'ix_customer_order_lower_email'


def upgrade():
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint(batch_op.f('ck_order_line_cancelled_within_quantity'), 'cancelled >= 0 AND cancelled <= quantity')
    with op.batch_alter_table('fulfilment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reship_of_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_fulfilment_reship_of_id_fulfilment'), 'fulfilment', ['reship_of_id'], ['id'])
    if op.get_context().dialect.name != 'postgresql':  # SQLite: no expression index (the model says so too)
        return
    with op.get_context().autocommit_block():
        op.create_index(
            INDEX, 'customer_order', [sa.text('lower(customer_email)')], unique=False, postgresql_concurrently=True
        )


def downgrade():
    if op.get_context().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name='customer_order', postgresql_concurrently=True)
    with op.batch_alter_table('fulfilment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_fulfilment_reship_of_id_fulfilment'), type_='foreignkey')
        batch_op.drop_column('reship_of_id')
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_order_line_cancelled_within_quantity'), type_='check')
        batch_op.drop_column('cancelled')
