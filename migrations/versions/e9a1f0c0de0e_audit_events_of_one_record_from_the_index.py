"""audit events of one record from the index

An order's timeline (GET /api/v1/orders/{id}/timeline), the board's look-up of when orders became ready and a held
order's review note all read one record's audit events by (subject_type, subject_id); without an index that was a
full scan of the trail (1.9 s over 3.76 M rows in bench/board.py). On PostgreSQL built CONCURRENTLY in an
autocommit block, as in e9a1f0c0de02, so a live chain keeps writing its audit trail while it runs.

Revision ID: e9a1f0c0de0e
Revises: e9a1f0c0de0d
Create Date: 2026-12-01 13:20:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de0e'
down_revision = 'e9a1f0c0de0d'
branch_labels = None
depends_on = None

NAME, TABLE, COLUMNS = 'ix_audit_event_subject_type_subject_id', 'audit_event', ['subject_type', 'subject_id']


def upgrade():
    if op.get_context().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index(NAME, TABLE, COLUMNS, unique=False, postgresql_concurrently=True)
    else:
        op.create_index(NAME, TABLE, COLUMNS, unique=False)


def downgrade():
    if op.get_context().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.drop_index(NAME, table_name=TABLE, postgresql_concurrently=True)
    else:
        op.drop_index(NAME, table_name=TABLE)
