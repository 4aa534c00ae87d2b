"""catalogue from the retailer's PIM: names per language, style/size/colour, flags, active

A retailer that is not the demo fills its catalogue through PUT /api/v1/products/{sku}, the batch endpoint and
`flask products import`. product gains:
- names: {"en", "fr", "it"} shown to staff in their language; `name` stays the default name;
- style, size, colour: a fashion style groups its variants (one SKU per size and colour);
- flags: ["fragile", "hazmat"], shown to whoever packs;
- active: a product with history is never deleted, it is deactivated; new orders for it are refused.
Every new column has a server default, so existing rows are filled without a rewrite by the application (and
PostgreSQL 11+ adds a column with a constant default without rewriting the table).

ix_product_updated_at answers GET /api/v1/products?updated_since= (a PIM or ERP syncing changes) without reading
the whole catalogue. product is written only by catalogue operations, never on the order path, so a plain
CREATE INDEX (a short lock on product) is enough.

Revision ID: e9a1f0c0de06
Revises: e9a1f0c0de05
Create Date: 2026-12-01 06:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de06'
down_revision = 'e9a1f0c0de05'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN with a constant default on both engines: no copy of product (batch mode would copy it into a
    # new table and drop the old one, which the foreign keys of order lines, stock and shelves refuse on SQLite).
    op.add_column('product', sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('product', sa.Column('names', sa.JSON(), server_default='{}', nullable=False))
    op.add_column('product', sa.Column('style', sa.String(length=64), server_default='', nullable=False))
    op.add_column('product', sa.Column('size', sa.String(length=32), server_default='', nullable=False))
    op.add_column('product', sa.Column('colour', sa.String(length=64), server_default='', nullable=False))
    op.add_column('product', sa.Column('flags', sa.JSON(), server_default='[]', nullable=False))
    op.create_index('ix_product_updated_at', 'product', ['updated_at'], unique=False)


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+ has it), for the same reason.
    op.drop_index('ix_product_updated_at', table_name='product')
    for column in ('flags', 'colour', 'size', 'style', 'names', 'active'):
        op.drop_column('product', column)
