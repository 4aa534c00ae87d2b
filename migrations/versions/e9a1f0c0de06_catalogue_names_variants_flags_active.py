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
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('names', sa.JSON(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('style', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('size', sa.String(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('colour', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('flags', sa.JSON(), server_default='[]', nullable=False))
        batch_op.create_index('ix_product_updated_at', ['updated_at'], unique=False)


def downgrade():
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_index('ix_product_updated_at')
        batch_op.drop_column('flags')
        batch_op.drop_column('colour')
        batch_op.drop_column('size')
        batch_op.drop_column('style')
        batch_op.drop_column('names')
        batch_op.drop_column('active')
