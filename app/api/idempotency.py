"""Idempotency-Key handling: the first answer to a key is stored with the work, in one transaction,
and replayed for every resend; the same key with another body is a conflict."""

import hashlib
from functools import wraps

from flask import g, make_response, request
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.models import IdempotencyRecord
from app.extensions import db

MAX_KEY = 120


def _fingerprint() -> str:
    return hashlib.sha256(request.method.encode() + request.path.encode() + request.get_data()).hexdigest()


def _stored(key: str) -> IdempotencyRecord | None:
    return db.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.client_id == g.api_client.id, IdempotencyRecord.key == key)
    )


def _replay(record: IdempotencyRecord, fingerprint: str):
    from app.api import error_body

    if record.fingerprint != fingerprint:
        return error_body(
            409, gettext("This Idempotency-Key was used for a different request."), code="idempotency_conflict"
        )
    response = make_response(record.response, record.status_code)
    response.headers["Idempotent-Replayed"] = "true"
    return response


class _AnsweredMeanwhile(Exception):
    def __init__(self, record: IdempotencyRecord):
        super().__init__(record.key)
        self.record = record


def answered_meanwhile() -> None:
    """For a view that has just taken its lock (orders.lock_order): when a request with the same key committed its
    answer while this one waited for the lock, stop here and answer as that one did.

    The key is looked up before the view runs, but two requests with one key sent together both find nothing: the
    second then waits on the first's lock and, without this check, works again on the order the first changed
    (a second goodwill refund, or a refusal where the first succeeded) until its key's record clashes at commit.
    On PostgreSQL (read committed) the first's record is visible once its lock is released; on SQLite writers take
    the write lock first, so the lookup before the view already sees it."""
    key = g.get("idempotency_key")
    if key is None:
        return
    record = db.session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.client_id == g.api_client.id, IdempotencyRecord.key == key)
        .execution_options(populate_existing=True)
    )
    if record is not None:
        raise _AnsweredMeanwhile(record)


def idempotent(view):
    """Require an Idempotency-Key; run the view and store its answer in the same transaction."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        from app.api import error_body

        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > MAX_KEY:
            return error_body(
                422,
                gettext("An Idempotency-Key header (up to 120 characters) is required."),
                {"Idempotency-Key": gettext("Required.")},
            )
        fingerprint = _fingerprint()
        record = _stored(key)
        if record is not None:
            return _replay(record, fingerprint)
        g.idempotency_key = key
        try:
            response = view(*args, **kwargs)
            if 200 <= response.status_code < 300:
                db.session.add(
                    IdempotencyRecord(
                        client_id=g.api_client.id,
                        key=key,
                        fingerprint=fingerprint,
                        status_code=response.status_code,
                        response=response.get_json(),
                    )
                )
            db.session.commit()
        except IntegrityError:  # the same key raced in from another request: its answer wins
            db.session.rollback()
            return _replay(_stored(key), fingerprint)
        except _AnsweredMeanwhile as answered:
            db.session.rollback()
            return _replay(answered.record, fingerprint)
        except BaseException:
            db.session.rollback()
            raise
        return response

    return wrapped
