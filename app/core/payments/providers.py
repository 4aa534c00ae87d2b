"""The payment provider interface: what Comptoir asks of a PSP, and the built-in `test` provider.

A provider adapter is a module with a class of three methods (capture, void, refund), each taking a `Call` and
answering a `Result`; it is named in the PAYMENT_PROVIDERS setting ({"adyen": "mypsp.adyen:Adapter"}) and chosen by
the `provider` an order's payment names. Every call carries an idempotency key: the same key again must answer the
first call's outcome and move no money twice (every PSP worth using takes one). Comptoir calls the provider outside
any database transaction; a timeout (raise ProviderTimeout, or answer Result.retry) leaves the step pending and
`flask worker` calls again with the same key, after a backoff, up to payments.MAX_ATTEMPTS times.
"""

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from importlib import import_module
from typing import Protocol

from flask import current_app


@dataclass(frozen=True)
class Call:
    kind: str  # capture, void or refund
    authorisation: str  # the reference the web shop's authorisation has at the provider
    amount: Decimal
    currency: str
    idempotency_key: str
    attempt: int  # 1 for the first call of this key, 2 for the first retry...
    capture_reference: str = ""  # refunds: the provider's reference of the capture refunded


@dataclass(frozen=True)
class Result:
    status: str  # succeeded, declined or retry
    reference: str = ""  # the provider's reference of this step
    message: str = ""

    @classmethod
    def retry(cls, message: str = "") -> "Result":
        return cls("retry", message=message)


class ProviderTimeout(Exception):
    """The provider did not answer in time: whether it did the step is unknown; call again with the same key."""


class PaymentProvider(Protocol):
    name: str

    def capture(self, call: Call) -> Result: ...

    def void(self, call: Call) -> Result: ...

    def refund(self, call: Call) -> Result: ...


class TestProvider:
    """A PSP's test mode, by the authorisation's reference: `decline...` is declined, `timeout...` never answers in
    time, `late...` times out on the first call of a key and succeeds on a retry; anything else succeeds. The
    provider's references are derived from the key, so a repeat of a key answers the same reference."""

    name = "test"

    def _answer(self, call: Call) -> Result:
        reference = call.authorisation.lower()
        if reference.startswith("decline"):
            return Result("declined", message="declined by the test provider")
        if reference.startswith("timeout") or (reference.startswith("late") and call.attempt < 2):
            raise ProviderTimeout("the test provider did not answer in time")
        digest = hashlib.sha256(call.idempotency_key.encode()).hexdigest()[:16]
        return Result("succeeded", reference=f"test_{call.kind}_{digest}")

    capture = void = refund = _answer


BUILT_IN = {"test": "app.core.payments.providers:TestProvider"}


def provider(name: str) -> PaymentProvider | None:
    """The adapter for a provider name (PAYMENT_PROVIDERS, then the built-in ones); None when none is configured."""
    path = {**BUILT_IN, **(current_app.config.get("PAYMENT_PROVIDERS") or {})}.get(name)
    if not path:
        return None
    module, _, attribute = path.partition(":")
    return getattr(import_module(module), attribute)()
