from datetime import datetime
from enum import StrEnum

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, String, Table, false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.core.models.base import Timestamps, UTCDateTime, utcnow
from app.extensions import db


def hash_secret(secret: str) -> str:
    """A salted hash of a password or PIN: werkzeug's default method (scrypt), or the application's
    PASSWORD_HASH_METHOD when it sets one. Only the test suite does (a cheap method: it signs people in by the
    thousand); it cannot come from the environment, so a deployment always hashes with the default."""
    method = current_app.config.get("PASSWORD_HASH_METHOD") if has_app_context() else None
    return generate_password_hash(secret, method=method) if method else generate_password_hash(secret)


class Role(StrEnum):
    ASSOCIATE = "associate"
    MANAGER = "manager"
    ADMIN = "admin"
    # Chain-wide read and the customer service console's actions (app.web.cs); no store-floor work.
    CUSTOMER_SERVICE = "customer_service"


# Who may change a store's settings, review held orders, count stock and sign devices out: its managers, and admins.
MANAGING_ROLES = (Role.MANAGER, Role.ADMIN)


membership = Table(
    "membership",
    db.metadata,
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", ForeignKey("location.id", ondelete="CASCADE"), primary_key=True),
)


class User(UserMixin, Timestamps, db.Model):
    """A person who signs in: associates and managers belong to stores, admins see all."""

    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint("role IN ('associate', 'manager', 'admin', 'customer_service')", name="role"),
        CheckConstraint("language IN ('en', 'fr', 'it')", name="language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default=Role.ASSOCIATE)
    language: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A shared device's switch (app.core.people.switch): a salted hash of their PIN, the SHA-256 of their badge.
    pin_hash: Mapped[str | None] = mapped_column(String(256))
    badge_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Set by an invitation, a reset or an import (a password someone else saw): changed at the next sign-in.
    password_temporary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    stores = relationship("Location", secondary=membership, order_by="Location.code")

    def set_password(self, password: str) -> None:
        self.password_hash = hash_secret(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # flask-login refuses inactive users
        return self.active

    @property
    def is_admin(self) -> bool:
        """Admins see and manage every store and the chain's settings."""
        return self.role == Role.ADMIN

    @property
    def is_customer_service(self) -> bool:
        """Customer service reads every order of the chain and acts on it from the console, never on the floor."""
        return self.role == Role.CUSTOMER_SERVICE

    @property
    def is_manager(self) -> bool:
        """Managers manage their stores; admins may do anything a manager may."""
        return self.role in MANAGING_ROLES

    def may_access(self, location) -> bool:
        return self.is_admin or any(s.id == location.id for s in self.stores)


class UserSession(db.Model):
    """One signed-in device: its cookie carries a random key, kept here only as a hash; refused once revoked."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Written at most once a minute (SEEN_EVERY), not on every request.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    device: Mapped[str] = mapped_column(String(80), default="")
    ip: Mapped[str] = mapped_column(String(45), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # On a shared device, who switched to it by badge or PIN during the shift (created_at on); None: user.
    acting_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)

    user = relationship(User, foreign_keys=[user_id])
    acting_user = relationship(User, foreign_keys=[acting_user_id])

    @property
    def person(self) -> User:
        """Who acts on this device now: the person switched to, else the one who signed in."""
        return self.acting_user or self.user


class LoginFailure(db.Model):
    """A sign-in attempt under way or refused, counted by every worker alike (address + account, and address)."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_address_at", "address", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    address: Mapped[str] = mapped_column(String(45))
    account: Mapped[str] = mapped_column(String(254))
