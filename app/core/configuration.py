"""The retailer's configuration an order capture consults, read in one statement.

Capturing an order reads the sourcing rules (app.core.ordering.rules), the retailer's settings (which messages are
off; app.core.payments.settings) and the active webhook subscriptions (app.core.integration.events). Each is read
once per transaction by its own module; `preload` reads all three in one statement at the start of the capture
and leaves each where its module looks first (the session's identity map, or the transaction's cache), so that the
order pays one round trip for them instead of three. Nothing is kept beyond the transaction: a change committed by
another process is seen by the next order.
"""

from sqlalchemy import select, true

from app.core import payments
from app.core.integration import events
from app.core.models import RetailerSettings, SourcingRules, WebhookSubscription
from app.core.ordering.rules import RULES_ID
from app.core.payments.retailer_settings import SETTINGS_ID
from app.core.uow import transaction_cache
from app.extensions import db


def _statement():
    """The rules' row, the settings' row (if ever saved) and each active subscription (if any), one row each."""
    return (
        select(SourcingRules, RetailerSettings, WebhookSubscription)
        .select_from(SourcingRules)
        .outerjoin(RetailerSettings, RetailerSettings.id == SETTINGS_ID)
        .outerjoin(WebhookSubscription, WebhookSubscription.active.is_(true()))
        .where(SourcingRules.id == RULES_ID)
        .order_by(WebhookSubscription.id)
    )


_STATEMENT = _statement()


def preload() -> None:
    """Read the sourcing rules, the retailer's settings and the active webhook subscriptions in one statement, for
    the rest of this transaction. Rules never stored yet: nothing is preloaded (each module reads, and stores the
    defaults, as it does alone)."""
    with db.session.no_autoflush:
        rows = db.session.execute(_STATEMENT).all()
    if not rows:
        return
    # The session keeps loaded rows by weak reference: held until the transaction ends, the rules stay in its
    # identity map, where db.session.get finds them without a statement.
    transaction_cache("configuration")["held"] = rows[0][0]
    payments.remember_settings(rows[0][1])
    events.remember_subscribers([row[2] for row in rows if row[2] is not None])
