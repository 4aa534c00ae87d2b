"""personal data retention

1. retailer_settings.personal_data_retention_days: days after an order closed before its customer's name,
   contacts and address are erased (app.core.privacy.erase_expired); 1095 (three years) for the existing row, 30 to
   3650 (docs/PRIVACY.md says why three years);
2. customer_order.personal_data_erased_at: when they were erased (on request or by the retention job), NULL while
   held; a catalogue change on PostgreSQL 11 and later (no table rewrite);
3. ix_customer_order_retention: a partial index on updated_at of the closed orders not yet erased, so the retention
   job reads only what is due. Built CONCURRENTLY on PostgreSQL (as e9a1f0c0de11), so the chain keeps taking
   orders; if it fails it leaves an INVALID index: drop it (DROP INDEX CONCURRENTLY ix_customer_order_retention) and
   run the upgrade again.

Revision ID: e9a1f0c0de13
Revises: e9a1f0c0de12
Create Date: 2026-12-01 16:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de13'
down_revision = 'e9a1f0c0de12'
branch_labels = None
depends_on = None

INDEX = 'ix_customer_order_retention'
WHERE = sa.text("status IN ('completed', 'cancelled') AND personal_data_erased_at IS NULL")


def upgrade():
    with op.batch_alter_table('retailer_settings', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('personal_data_retention_days', sa.Integer(), server_default='1095', nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_retailer_settings_personal_data_retention_days'),
            'personal_data_retention_days BETWEEN 30 AND 3650',
        )
    with op.batch_alter_table('customer_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('personal_data_erased_at', sa.DateTime(timezone=True), nullable=True))
    if op.get_context().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index(
                INDEX, 'customer_order', ['updated_at'], unique=False, postgresql_where=WHERE,
                postgresql_concurrently=True,
            )
    else:
        op.create_index(INDEX, 'customer_order', ['updated_at'], unique=False, sqlite_where=WHERE)


def downgrade():
    if op.get_context().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name='customer_order', postgresql_concurrently=True)
    else:
        op.drop_index(INDEX, table_name='customer_order')
    with op.batch_alter_table('customer_order', schema=None) as batch_op:
        batch_op.drop_column('personal_data_erased_at')
    with op.batch_alter_table('retailer_settings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_retailer_settings_personal_data_retention_days'), type_='check')
        batch_op.drop_column('personal_data_retention_days')
