"""A store's staff as its managers (and admins, for every store) keep it: invite, deactivate, role, stores, password.

Every operation takes the person doing it (`by`, a User) and refuses what that person may not do: a manager acts
only on the staff of their own stores, gives only the associate and manager roles, and adds or removes only their
own stores (a person's other stores stay as they are). Admins act on everyone. Each change is audited.
"""

import secrets

from flask_babel import force_locale, gettext
from sqlalchemy import select

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, InvalidInput, NotFound
from app.core.models import Location, OutboundEmail, Role, User, membership
from app.core.people import sign_in, users
from app.extensions import db

# A temporary password is shown once to whoever invited or reset, to be read out or copied by hand: 14 characters
# from an alphabet without look-alikes (no 0/o, 1/l/i, no signs), about 70 bits.
TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
TEMPORARY_LENGTH = 14


class StaffRefused(InvalidInput):
    code = "forbidden"
    http_status = 403
    message = N_("You may not do this.")


def _temporary_password() -> str:
    return "".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(TEMPORARY_LENGTH))


def manageable_stores(by: User) -> list[Location]:
    """The stores whose staff this person keeps: all of them for an admin, their own for a manager."""
    if by.is_admin:
        return db.session.scalars(select(Location).order_by(Location.code)).all()
    return list(by.stores) if by.is_manager else []


def _own_store_ids(by: User) -> set[int]:
    return {store.id for store in manageable_stores(by)}


def store_staff(store: Location) -> list[User]:
    """The store's members (admins belong to no store's staff), by name."""
    members = select(membership.c.user_id).where(membership.c.location_id == store.id)
    return db.session.scalars(
        select(User).where(User.id.in_(members), User.role != Role.ADMIN).order_by(User.name, User.id)
    ).all()


def may_manage(by: User, person: User) -> bool:
    """An admin keeps everyone; a manager the associates and managers sharing a store with them."""
    if by.is_admin:
        return True
    if not by.is_manager or person.role == Role.ADMIN:
        return False
    return bool(_own_store_ids(by) & {store.id for store in person.stores})


def person_of(by: User, store: Location, user_id: int) -> User:
    """One person of the store's staff whom `by` may manage; NotFound otherwise (never a hint of other stores)."""
    person = db.session.get(User, user_id)
    if person is None or store.id not in {s.id for s in person.stores} or not may_manage(by, person):
        raise NotFound(N_("No such person in this store."))
    return person


def _check_role(by: User, role: str) -> None:
    if role not in set(Role):
        raise InvalidInput(N_("Unknown role."), field="role")
    if role == Role.ADMIN and not by.is_admin:
        raise StaffRefused(N_("Only an admin may make someone an admin."), field="role")


def _stores(by: User, codes) -> list[Location]:
    """The stores named, all of them among those `by` keeps."""
    codes = {code for code in codes if code}
    allowed = {store.code: store for store in manageable_stores(by)}
    unknown = sorted(codes - set(allowed))
    if unknown:
        raise StaffRefused(N_("You may not give these stores: %(codes)s."), field="stores", codes=", ".join(unknown))
    return [allowed[code] for code in sorted(codes)]


def invite(
    *, by: User, email: str, name: str, role: str, store_codes, language: str | None, actor: Actor
) -> tuple[User, str]:
    """Create a person with a temporary password, returned to be shown once (only its hash is kept)."""
    _check_role(by, role)
    stores = _stores(by, store_codes)
    if role != Role.ADMIN and not stores:
        raise InvalidInput(N_("Choose at least one store."), field="stores")
    if not (name or "").strip():
        raise InvalidInput(N_("Enter a name."), field="name")
    if language not in {None, "", "en", "fr", "it"}:
        raise InvalidInput(N_("Unknown language."), field="language")
    password = _temporary_password()
    person = users.create_user(
        email=email,
        name=name.strip()[:120],
        password=password,
        role=role,
        stores=stores,
        language=language or None,
        actor=actor,
    )
    person.password_temporary = True
    audit.record(actor, "user.invite", person, None, {"by": by.id})
    _queue_invitation(person, by)
    return person, password


def _queue_invitation(person: User, by: User) -> OutboundEmail:
    """Tell the person, in their language (English when they have none yet), that they are expected; never the
    password, which whoever invited them hands over (an e-mail may be read by others or kept for years)."""
    with force_locale(person.language or "en"):
        subject = gettext("You are invited to Comptoir")
        body = "\n".join(
            [
                gettext("Hello %(name)s,", name=person.name),
                "",
                gettext(
                    "%(manager)s has given you an account on Comptoir for %(stores)s.",
                    manager=by.name,
                    stores=", ".join(store.name for store in person.stores) or "Comptoir",
                ),
                gettext(
                    "Sign in with this e-mail address and the temporary password %(manager)s gives you.",
                    manager=by.name,
                ),
                gettext("You will then choose your own password."),
            ]
        )
    email = OutboundEmail(order_id=None, to=person.email, subject=subject[:200], body=body)
    db.session.add(email)
    return email


def set_active(*, by: User, person: User, active: bool, actor: Actor) -> bool:
    """Deactivate (every device of theirs signed out, and no sign-in) or reactivate; False when nothing changed."""
    if person.id == by.id:
        raise StaffRefused(N_("You cannot deactivate yourself."))
    if person.active == active:
        return False
    person.active = active
    audit.record(
        actor, "user.activate" if active else "user.deactivate", person, {"active": not active}, {"active": active}
    )
    if not active:
        sign_in.revoke_sessions_of(person, actor=actor)
    return True


def change_role(*, by: User, person: User, role: str, actor: Actor) -> bool:
    """A new role; a manager never makes an admin nor changes their own role."""
    _check_role(by, role)
    if person.id == by.id and role != person.role:
        raise StaffRefused(N_("You cannot change your own role."), field="role")
    if person.role == role:
        return False
    if role != Role.ADMIN and not person.stores:
        raise InvalidInput(N_("Choose at least one store."), field="stores")
    before = person.role
    person.role = role
    audit.record(actor, "user.role", person, {"role": before}, {"role": role})
    return True


def change_stores(*, by: User, person: User, store_codes, actor: Actor) -> bool:
    """The person's stores among those `by` keeps become exactly these; their other stores are left alone."""
    chosen = _stores(by, store_codes)
    own = _own_store_ids(by)
    kept = [store for store in person.stores if store.id not in own]
    after = sorted(kept + chosen, key=lambda store: store.code)
    if person.role != Role.ADMIN and not after:
        raise InvalidInput(N_("Choose at least one store."), field="stores")
    before = [store.code for store in person.stores]
    if before == [store.code for store in after]:
        return False
    person.stores = after
    audit.record(actor, "user.stores", person, {"stores": before}, {"stores": [store.code for store in after]})
    return True


def reset_password(*, by: User, person: User, actor: Actor) -> str:
    """A new temporary password, returned to be shown once; every device of theirs is signed out."""
    if person.id == by.id:
        raise StaffRefused(N_("You cannot reset your own password here."))
    password = _temporary_password()
    person.set_password(password)
    person.password_temporary = True
    audit.record(actor, "user.password_reset", person, None, {"by": by.id})
    sign_in.revoke_sessions_of(person, actor=actor)
    return password


def import_person(
    *, email: str, name: str, role: str, stores: list[Location], language: str | None, actor: Actor
) -> str:
    """Create or bring up to date one person from a staff file: "created", "updated" or "unchanged".

    A new person gets a random password nobody is told: a manager gives them a temporary one (Reset the password).
    """
    if role not in set(Role):
        raise InvalidInput(N_("Unknown role."), field="role")
    if role != Role.ADMIN and not stores:
        raise InvalidInput(N_("Choose at least one store."), field="stores")
    person = users.find_user_by_email(email)
    if person is None:
        person = users.create_user(
            email=email,
            name=name,
            password=_temporary_password(),
            role=role,
            stores=stores,
            language=language,
            actor=actor,
        )
        person.password_temporary = True
        return "created"
    before = {
        "name": person.name,
        "role": person.role,
        "stores": [s.code for s in person.stores],
        "language": person.language,
    }
    after = {"name": name, "role": role, "stores": sorted(s.code for s in stores), "language": language}
    if before == after:
        return "unchanged"
    person.name, person.role, person.language = name, role, language
    person.stores = sorted(stores, key=lambda store: store.code)
    audit.record(actor, "user.import", person, before, after)
    return "updated"
