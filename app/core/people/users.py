"""User accounts and store memberships."""

import secrets
from functools import cache

from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, InvalidInput
from app.core.models import Role, User
from app.core.models.users import hash_secret
from app.extensions import db

MIN_PASSWORD = 10


def find_user_by_email(email: str) -> User | None:
    """Look a user up by e-mail, ignoring case."""
    return db.session.scalar(select(User).where(func.lower(User.email) == (email or "").strip().lower()))


@cache
def _stand_in_hash() -> str:
    """A hash of a random password made like every user's (same werkzeug method and cost), to check against when
    there is no user to check: an unknown or inactive e-mail then takes as long to refuse as a wrong password."""
    return hash_secret(secrets.token_urlsafe(16))


def authenticate(email: str, password: str) -> User | None:
    """The active user with this e-mail and password, else None, in the same time whichever part was wrong."""
    user = find_user_by_email(email)
    if user is None or not user.active:
        check_password_hash(_stand_in_hash(), password or "")
        return None
    return user if user.check_password(password or "") else None


def create_user(*, email: str, name: str, password: str, role: str, stores=(), language=None, actor: Actor) -> User:
    """Create a user with a hashed password and store memberships."""
    email = (email or "").strip().lower()
    if "@" not in email:
        raise InvalidInput(N_("Enter a valid e-mail address."), field="email")
    if role not in set(Role):
        raise InvalidInput(N_("Unknown role."), field="role")
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(N_("The password must have at least %(n)s characters."), field="password", n=MIN_PASSWORD)
    if find_user_by_email(email):
        raise InvalidInput(N_("This e-mail address is already used."), field="email")
    user = User(email=email, name=name, role=role, language=language, stores=list(stores))
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.create", user, None, {"email": email, "role": role, "stores": [s.code for s in stores]})
    return user


def set_language(user: User, language: str, *, actor: Actor) -> None:
    """Remember a user's interface language."""
    if language not in {"en", "fr", "it"}:
        raise InvalidInput(N_("Unknown language."), field="language")
    before = user.language
    user.language = language
    audit.record(actor, "user.language", user, {"language": before}, {"language": language})


def change_own_password(user: User, current: str, new: str, *, actor: Actor) -> None:
    """A person chooses their password (after a temporary one, at the latest): the current one first."""
    if not user.check_password(current or ""):
        raise InvalidInput(N_("Wrong password."), field="current")
    if len(new or "") < MIN_PASSWORD:
        raise InvalidInput(N_("The password must have at least %(n)s characters."), field="new", n=MIN_PASSWORD)
    if new == current:
        raise InvalidInput(N_("Choose a password other than the temporary one."), field="new")
    user.set_password(new)
    user.password_temporary = False
    audit.record(actor, "user.password", user, None, {"changed": True})
