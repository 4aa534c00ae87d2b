"""Domain errors: nouns the business would use. Messages are gettext msgids, translated at the edge."""


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


class DomainError(Exception):
    """A business rule refused the request; nothing was changed."""

    code = "domain_error"
    http_status = 422
    message = N_("The request was refused.")

    def __init__(self, message: str | None = None, fields: dict | None = None, *, field: str = "", **params):
        """fields maps a field's path to its msgid, or (msgid, params); field="x" gives x the error's own message."""
        self.message = message or self.message
        self.params = params
        self.fields = dict(fields or {})
        if field:
            self.fields[field] = (self.message, params)
        super().__init__(self.message % params if params else self.message)

    def sentence(self, translate) -> str:
        """The error in the reader's words, with translate = the edge's gettext."""
        return translate(self.message, **self.params)

    def field_messages(self, translate) -> dict[str, str]:
        """Each refused field's message in the reader's words: {path: text}."""
        return {path: _say(translate, text) for path, text in self.fields.items()}


def untranslated(message: str, **params) -> str:
    """The English msgid with its values: for logs, the CLI and file-import summaries."""
    return message % params if params else message


def _say(translate, text) -> str:
    message, params = text if isinstance(text, tuple) else (text, {})
    return translate(message, **params)


class InvalidInput(DomainError):
    code = "invalid"
    message = N_("Some values are not valid.")


class NotFound(DomainError):
    code = "not_found"
    http_status = 404
    message = N_("Not found.")


class OutOfStock(DomainError):
    code = "out_of_stock"
    http_status = 409
    message = N_("Not enough stock of %(sku)s at %(location)s: %(available)s available, %(requested)s requested.")


class InsufficientStock(DomainError):
    code = "insufficient_stock"
    http_status = 409
    message = N_("This change would leave %(sku)s at %(location)s below zero or below its reserved units.")


class IllegalTransition(DomainError):
    code = "illegal_transition"
    http_status = 409
    message = N_("A fulfilment that is %(current)s cannot become %(target)s.")


class ConcurrentChange(DomainError):
    code = "conflict"
    http_status = 409
    message = N_("Someone else changed this at the same time. Reload and try again.")


class OrderConflict(DomainError):
    code = "order_conflict"
    http_status = 409
    message = N_("Order %(ref)s already exists on channel %(channel)s with different content.")


class OrderHeld(DomainError):
    code = "order_held"
    http_status = 409
    message = N_("This order is held for review; a manager must release it first.")


class CollectNotShipped(DomainError):
    """A click & collect fulfilment was to be packed into a carrier parcel or labelled: it is never shipped."""

    code = "collect_not_shipped"
    http_status = 409
    message = N_(
        "Order %(ref)s is click & collect: it is not packed into a carrier parcel or labelled. "
        "Put it on the hold shelf; the click & collect handover comes next."
    )
