"""API clients: tokens are shown once at creation; only their SHA-256 is stored."""

import hashlib
import secrets

from sqlalchemy import select

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, InvalidInput
from app.core.models import ApiClient
from app.core.models.base import utcnow
from app.extensions import db

SCOPES = {"orders:read", "orders:write", "stock:read", "stock:write", "settings:read", "settings:write"}
PREFIX_LENGTH = 8


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_client(name: str, scopes, *, actor: Actor) -> tuple[ApiClient, str]:
    """Register a system that may call the API; returns the client and its token (shown once)."""
    name = (name or "").strip()
    scopes = {s.strip() for s in scopes if s.strip()}
    if not name:
        raise InvalidInput(N_("A name is required."), fields={"name": "required"})
    if not scopes or scopes - SCOPES:
        raise InvalidInput(
            N_("Unknown scope: %(scopes)s"),
            fields={"scopes": "invalid"},
            scopes=", ".join(sorted(scopes - SCOPES)) or "-",
        )
    if db.session.scalar(select(ApiClient).where(ApiClient.name == name)):
        raise InvalidInput(N_("This name is already used."), fields={"name": "taken"})
    token = "cpt_" + secrets.token_urlsafe(32)
    client = ApiClient(
        name=name, token_prefix=token[:PREFIX_LENGTH], token_hash=_hash(token), scopes=",".join(sorted(scopes))
    )
    db.session.add(client)
    db.session.flush()
    audit.record(actor, "api_client.create", client, None, {"name": name, "scopes": sorted(scopes)})
    return client, token


def authenticate(token: str) -> ApiClient | None:
    """The active client holding this token, or None."""
    if not token or not token.startswith("cpt_"):
        return None
    client = db.session.scalar(select(ApiClient).where(ApiClient.token_hash == _hash(token), ApiClient.active))
    if client is not None:
        client.last_used_at = utcnow()
    return client


def revoke_api_client(client: ApiClient, *, actor: Actor) -> ApiClient:
    """Refuse the client's token from now on; revoking twice changes nothing."""
    if client.active:
        client.active = False
        audit.record(actor, "api_client.revoke", client, {"active": True}, {"active": False})
        db.session.flush()
    return client
