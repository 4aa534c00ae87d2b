"""The stores and the warehouse of Maison Lumière, with real addresses and coordinates."""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from app.core.models import Location
from app.extensions import db

PARIS, ROME = "Europe/Paris", "Europe/Rome"


@dataclass(frozen=True)
class LocationSpec:
    code: str
    name: str
    address_line1: str
    postcode: str
    city: str
    country: str
    latitude: str
    longitude: str
    daily_capacity: int
    accept_within_minutes: int
    ready_within_minutes: int
    kind: str = "store"
    ships_from_store: bool = True
    click_and_collect: bool = True
    returns: bool = True
    assortment: float = 0.3  # share of the catalogue the location carries
    pickup_bag_step: bool = False  # click & collect: bags counted and labelled before staging

    @property
    def timezone(self) -> str:
        return ROME if self.country == "IT" else PARIS

    @property
    def language(self) -> str:
        return "it" if self.country == "IT" else "fr"

    @property
    def is_store(self) -> bool:
        return self.kind == "store"


# fmt: off
LOCATIONS = [
    LocationSpec("PAR01", "Maison Lumière Paris Rivoli", "112 Rue de Rivoli", "75001", "Paris", "FR",
                 "48.860300", "2.344100", 90, 30, 120, assortment=0.55,
                 pickup_bag_step=True),
    LocationSpec("LYO01", "Maison Lumière Lyon République", "58 Rue de la République", "69002", "Lyon", "FR",
                 "45.761300", "4.835700", 60, 45, 180),
    LocationSpec("MRS01", "Maison Lumière Marseille Saint-Ferréol", "45 Rue Saint-Ferréol", "13001", "Marseille",
                 "FR", "43.293400", "5.378100", 45, 60, 240),
    LocationSpec("LIL01", "Maison Lumière Lille Rue Neuve", "31 Rue Neuve", "59000", "Lille", "FR",
                 "50.636600", "3.065200", 40, 60, 240, returns=False),
    LocationSpec("BDX01", "Maison Lumière Bordeaux Sainte-Catherine", "95 Rue Sainte-Catherine", "33000", "Bordeaux",
                 "FR", "44.839600", "-0.573300", 50, 45, 180),
    LocationSpec("NTE01", "Maison Lumière Nantes Crébillon", "12 Rue Crébillon", "44000", "Nantes", "FR",
                 "47.213400", "-1.561000", 35, 90, 300, ships_from_store=False),
    LocationSpec("MIL01", "Maison Lumière Milano Corso Vittorio Emanuele", "Corso Vittorio Emanuele II 24", "20122",
                 "Milano", "IT", "45.465400", "9.192500", 80, 30, 150, assortment=0.5,
                 pickup_bag_step=True),
    LocationSpec("ROM01", "Maison Lumière Roma Via del Corso", "Via del Corso 189", "00187", "Roma", "IT",
                 "41.901000", "12.480800", 60, 45, 180),
    LocationSpec("TRN01", "Maison Lumière Torino Via Roma", "Via Roma 78", "10121", "Torino", "IT",
                 "45.067700", "7.682800", 40, 60, 240),
    LocationSpec("FLR01", "Maison Lumière Firenze Calzaiuoli", "Via dei Calzaiuoli 35", "50122", "Firenze", "IT",
                 "43.771400", "11.254900", 35, 60, 240, click_and_collect=True, ships_from_store=False),
    LocationSpec("WH01", "Entrepôt Maison Lumière Orléans-Saran", "1450 Rue Marcel Paul", "45770", "Saran", "FR",
                 "47.950800", "1.876400", 600, 120, 480, kind="warehouse", click_and_collect=False, returns=True,
                 assortment=1.0),
]
# fmt: on

STORES = [spec for spec in LOCATIONS if spec.is_store]
BY_CODE = {spec.code: spec for spec in LOCATIONS}


def ensure_locations() -> tuple[dict[str, Location], int, int]:
    """Create the locations that are missing; return them all by code, and (created, existing) counts."""
    codes = [spec.code for spec in LOCATIONS]
    found = {loc.code: loc for loc in db.session.scalars(select(Location).where(Location.code.in_(codes)))}
    created = 0
    for spec in LOCATIONS:
        if spec.code in found:
            continue
        location = Location(
            code=spec.code,
            name=spec.name,
            kind=spec.kind,
            address_line1=spec.address_line1,
            postcode=spec.postcode,
            city=spec.city,
            country=spec.country,
            latitude=Decimal(spec.latitude),
            longitude=Decimal(spec.longitude),
            timezone=spec.timezone,
            ships_from_store=spec.ships_from_store,
            click_and_collect=spec.click_and_collect,
            returns=spec.returns,
            pickup_bag_step=spec.pickup_bag_step,
            daily_capacity=spec.daily_capacity,
            accept_within_minutes=spec.accept_within_minutes,
            ready_within_minutes=spec.ready_within_minutes,
            active=True,
        )
        db.session.add(location)
        found[spec.code] = location
        created += 1
    db.session.flush()
    return found, created, len(LOCATIONS) - created
