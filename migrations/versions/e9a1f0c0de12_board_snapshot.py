"""board snapshot, and the store's last scan from an index

- board_snapshot: one row per store, what its live board shows as language-neutral data (app.core.reports.board),
  written by `flask worker` each pass and by the board when the row is missing, too old or out of date; a poll of
  the board reads that row instead of predicting the store's open work again (issue 14, the board over HTTP).
- scan (location_id, id): the store's last scan in one step down the index, part of the board's fingerprint (how
  it knows the snapshot is out of date); without it PostgreSQL walks every scan the store ever made.

On PostgreSQL the scan index is built and dropped CONCURRENTLY, outside the migration's transaction (an autocommit
block), so the stores keep scanning while it builds; if the build fails it leaves an INVALID index: drop it (DROP
INDEX CONCURRENTLY ix_scan_location_id_id) and run the upgrade again. SQLite builds it in the ordinary way.

Revision ID: e9a1f0c0de12
Revises: e9a1f0c0de11
Create Date: 2026-12-01 15:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e9a1f0c0de12"
down_revision = "e9a1f0c0de11"
branch_labels = None
depends_on = None

INDEX = "ix_scan_location_id_id"


def upgrade():
    op.create_table(
        "board_snapshot",
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), server_default="", nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["location.id"],
            name=op.f("fk_board_snapshot_location_id_location"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("location_id", name=op.f("pk_board_snapshot")),
    )
    if op.get_context().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(INDEX, "scan", ["location_id", "id"], unique=False, postgresql_concurrently=True)
    else:
        op.create_index(INDEX, "scan", ["location_id", "id"], unique=False)


def downgrade():
    if op.get_context().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name="scan", postgresql_concurrently=True)
    else:
        op.drop_index(INDEX, table_name="scan")
    op.drop_table("board_snapshot")
