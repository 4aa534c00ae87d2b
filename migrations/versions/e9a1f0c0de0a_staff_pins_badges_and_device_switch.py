"""staff PINs and badges, temporary passwords, and the person acting on a shared device

app_user.pin_hash: a short PIN (4 to 6 digits) a person sets for themselves, kept as a salted werkzeug hash;
app_user.badge_hash: the SHA-256 of the code their badge scans as, unique, so a scan finds its person. Neither is
ever kept plain. app_user.password_temporary: the password was made by someone else (an invitation, a reset, an
import): its holder chooses their own at the next sign-in. user_session.acting_user_id: on a device signed in with a full password (its shift, from
created_at), the person who switched to it by badge or PIN; NULL: the person who signed in. New nullable columns:
PostgreSQL adds them without rewriting the tables.

Revision ID: e9a1f0c0de0a
Revises: e9a1f0c0de09
Create Date: 2026-12-01 07:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de0a'
down_revision = 'e9a1f0c0de09'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('app_user') as batch_op:
        batch_op.add_column(sa.Column('pin_hash', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('badge_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column('password_temporary', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_unique_constraint(batch_op.f('uq_app_user_badge_hash'), ['badge_hash'])
    with op.batch_alter_table('user_session') as batch_op:
        batch_op.add_column(sa.Column('acting_user_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_user_session_acting_user_id_app_user'), 'app_user', ['acting_user_id'], ['id'],
            ondelete='CASCADE',
        )
        batch_op.create_index(batch_op.f('ix_user_session_acting_user_id'), ['acting_user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('user_session') as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_session_acting_user_id'))
        batch_op.drop_constraint(batch_op.f('fk_user_session_acting_user_id_app_user'), type_='foreignkey')
        batch_op.drop_column('acting_user_id')
    with op.batch_alter_table('app_user') as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_app_user_badge_hash'), type_='unique')
        batch_op.drop_column('password_temporary')
        batch_op.drop_column('badge_hash')
        batch_op.drop_column('pin_hash')
