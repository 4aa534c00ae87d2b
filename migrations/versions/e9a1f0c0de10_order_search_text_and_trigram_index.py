"""order search text and its trigram index

customer_order.search_text: the customer's name, e-mail and phone digits, lower case and without accents, for the
customer service search (app.core.service.search: "lea" finds "Léa", "rossi" finds "ROSSÍ", "612345" a phone).

1. the column (NOT NULL, default ''), in the migration's transaction;
2. the backfill of existing orders, in batches of BATCH ids, each its own transaction (an autocommit block): a
   chain of millions of orders is not locked row by row for the whole run, and a stopped run starts again where it
   was (it only fills rows still at ''); the folding is written out here, as the code did it on this day;
3. on PostgreSQL, pg_trgm and a GIN trigram index on the column, built CONCURRENTLY (as e9a1f0c0de02) so the chain
   keeps taking orders meanwhile: LIKE '%lea%' then reads the index instead of every order. If the build fails it
   leaves an INVALID index: drop it (DROP INDEX CONCURRENTLY ix_customer_order_search_text_trgm) and run the upgrade
   again. SQLite has no trigram index: a plain one keeps the schema the model describes, and its LIKE scans.

Orders written by the previous release while the backfill runs past them keep ''; the new release writes the
column itself (orders.create_order, the model's events).

Revision ID: e9a1f0c0de10
Revises: e9a1f0c0de0f
Create Date: 2026-12-01 15:00:00.000000

"""
import json
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e9a1f0c0de10'
down_revision = 'e9a1f0c0de0f'
branch_labels = None
depends_on = None

INDEX, TABLE, LENGTH, BATCH = 'ix_customer_order_search_text_trgm', 'customer_order', 600, 5000


def _fold(text):
    decomposed = unicodedata.normalize('NFKD', (text or '').casefold())
    return ' '.join(''.join(c for c in decomposed if not unicodedata.combining(c)).split())


def _search_text(name, email, phone):
    parts = [_fold(name), _fold(email), ''.join(c for c in (phone or '') if c.isdigit())]
    return ' '.join(p for p in parts if p)[:LENGTH]


def _backfill(bind, postgresql):
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                'SELECT id, customer_name, customer_email, customer_phone FROM customer_order '
                "WHERE id > :last AND search_text = '' ORDER BY id LIMIT :batch"
            ),
            {'last': last, 'batch': BATCH},
        ).all()
        if not rows:
            return
        values = [{'id': r[0], 't': _search_text(r[1], r[2], r[3])} for r in rows]
        values = [v for v in values if v['t']]
        if postgresql and values:  # one statement per batch
            bind.execute(
                sa.text(
                    'UPDATE customer_order AS o SET search_text = v.t '
                    'FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id bigint, t text) WHERE o.id = v.id'
                ),
                {'rows': json.dumps(values)},
            )
        elif values:
            bind.execute(sa.text('UPDATE customer_order SET search_text = :t WHERE id = :id'), values)
        last = rows[-1][0]


def upgrade():
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.String(length=LENGTH), server_default='', nullable=False))
    if op.get_context().dialect.name != 'postgresql':
        _backfill(op.get_bind(), False)
        op.create_index(INDEX, TABLE, ['search_text'], unique=False)
        return
    with op.get_context().autocommit_block():
        _backfill(op.get_bind(), True)
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.create_index(
            INDEX,
            TABLE,
            ['search_text'],
            unique=False,
            postgresql_using='gin',
            postgresql_ops={'search_text': 'gin_trgm_ops'},
            postgresql_concurrently=True,
        )


def downgrade():
    if op.get_context().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name=TABLE, postgresql_concurrently=True)
    else:
        op.drop_index(INDEX, table_name=TABLE)
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_column('search_text')
