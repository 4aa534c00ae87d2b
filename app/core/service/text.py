"""Text as the order search compares it: lower case (casefolded), accents stripped, spaces collapsed.

Pure functions, no models: the Order model keeps its `search_text` column with them (app.core.models.orders), and
the search (app.core.service.search) normalises what is typed the same way, so "LÉA", "Lea" and "léa" all meet.
"""

import unicodedata

SEARCH_TEXT_LENGTH = 600


def fold(text: str | None) -> str:
    """Casefolded, without accents (NFKD, combining marks dropped), whitespace collapsed: "  Rossí  LÉA" → "rossi lea"."""
    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def digits(text: str | None) -> str:
    return "".join(c for c in (text or "") if c.isdigit())


def search_text(name: str | None, email: str | None, phone: str | None) -> str:
    """What Order.search_text holds: the customer's folded name, e-mail and phone digits, one space apart."""
    parts = [fold(name), fold(email), digits(phone)]
    return " ".join(p for p in parts if p)[:SEARCH_TEXT_LENGTH]
