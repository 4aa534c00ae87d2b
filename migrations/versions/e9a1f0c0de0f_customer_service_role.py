"""customer service role

app_user.role may be 'customer_service': chain-wide read and the customer service console's actions, no floor work.

Revision ID: e9a1f0c0de0f
Revises: e9a1f0c0de0e
Create Date: 2026-12-01 13:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de0f'
down_revision = 'e9a1f0c0de0e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_app_user_role'), type_='check')
        batch_op.create_check_constraint(
            batch_op.f('ck_app_user_role'), "role IN ('associate', 'manager', 'admin', 'customer_service')"
        )


def downgrade():
    op.execute("UPDATE app_user SET role = 'associate', active = false WHERE role = 'customer_service'")
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_app_user_role'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_app_user_role'), "role IN ('associate', 'manager', 'admin')")
