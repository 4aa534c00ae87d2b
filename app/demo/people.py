"""Demo staff: one associate and one manager per store, plus a head-office admin and a customer service agent."""

from dataclasses import dataclass

from sqlalchemy import func, select

from app.core.models import Location, Role, User
from app.core.people import users
from app.demo.locations import STORES
from app.extensions import db

DOMAIN = "demo.comptoir.fr"
ADMIN_EMAIL = f"admin@{DOMAIN}"
SERVICE_EMAIL = f"service@{DOMAIN}"

# (associate, manager) per store
STAFF = {
    "PAR01": ("Léa Moreau", "Julien Lefèvre"),
    "LYO01": ("Camille Girard", "Nicolas Bonnet"),
    "MRS01": ("Inès Benali", "Thomas Fabre"),
    "LIL01": ("Manon Dupuis", "Antoine Lemaire"),
    "BDX01": ("Chloé Laborde", "Mathieu Dubos"),
    "NTE01": ("Emma Guérin", "Hugo Le Goff"),
    "MIL01": ("Giulia Rossi", "Marco Bianchi"),
    "ROM01": ("Francesca Conti", "Alessandro Ricci"),
    "TRN01": ("Chiara Ferrero", "Luca Gallo"),
    "FLR01": ("Sofia Martelli", "Lorenzo Bruni"),
}


@dataclass(frozen=True)
class UserSpec:
    email: str
    name: str
    role: str
    store_code: str | None
    language: str | None


def user_specs() -> list[UserSpec]:
    specs = [
        UserSpec(ADMIN_EMAIL, "Claire Marchand", Role.ADMIN, None, None),
        UserSpec(SERVICE_EMAIL, "Sarah Benoît", Role.CUSTOMER_SERVICE, None, None),
    ]
    for store in STORES:
        associate, manager = STAFF[store.code]
        # The Paris associate has no language of their own: the browser's or the session's applies.
        associate_language = None if store.code == "PAR01" else store.language
        specs.append(
            UserSpec(
                f"associate.{store.code.lower()}@{DOMAIN}", associate, Role.ASSOCIATE, store.code, associate_language
            )
        )
        specs.append(
            UserSpec(f"manager.{store.code.lower()}@{DOMAIN}", manager, Role.MANAGER, store.code, store.language)
        )
    return specs


def ensure_users(locations: dict[str, Location], password: str, *, actor) -> tuple[list[tuple], int, int]:
    """Create the missing demo users; return the logins (email, role, store or "all") and (created, existing)."""
    specs = user_specs()
    emails = [spec.email for spec in specs]
    existing = set(db.session.scalars(select(func.lower(User.email)).where(func.lower(User.email).in_(emails))))
    created = 0
    for spec in specs:
        if spec.email in existing:
            continue
        stores = [locations[spec.store_code]] if spec.store_code else []
        users.create_user(
            email=spec.email,
            name=spec.name,
            password=password,
            role=str(spec.role),
            stores=stores,
            language=spec.language,
            actor=actor,
        )
        created += 1
    logins = [(spec.email, str(spec.role), spec.store_code or "all") for spec in specs]
    return logins, created, len(specs) - created
