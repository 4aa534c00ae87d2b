"""The retailer's payment, return and customer message settings, and whether productivity is shown per person
(RetailerSettings, one row, id 1): what the admin screen and PATCH /api/v1/settings/retailer change, through
update_settings, validated all or nothing and audited."""

from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, InvalidInput
from app.core.models import RetailerSettings
from app.core.models.payments import HANDOVER_ON_FAILED_CAPTURE, NOTIFICATION_KINDS, RETURN_REASONS
from app.core.uow import transaction_cache
from app.extensions import db

SETTINGS_ID = 1
RETURN_WINDOW = (0, 365)
# Days a closed order keeps its customer's personal data (app.core.privacy): from a month to ten years, three by
# default (docs/PRIVACY.md: the CNIL's and the Garante's practice for customer data in commerce).
RETENTION_DAYS = (30, 3650)
DEFAULT_RETENTION_DAYS = 1095
FIELDS = (
    "return_window_days",
    "return_reasons",
    "failed_capture",
    "notifications_off",
    "individual_productivity",
    "personal_data_retention_days",
)


def settings_as_dict(found: RetailerSettings) -> dict:
    """The settings as the API shows them (return_reasons: those offered, in order; notifications_off: [] for all
    on)."""
    return {
        "return_window_days": found.return_window_days if found.return_window_days is not None else 30,
        "return_reasons": list(found.return_reasons or RETURN_REASONS),
        "failed_capture": found.failed_capture or "hold",
        "notifications_off": [kind for kind in NOTIFICATION_KINDS if kind in (found.notifications_off or [])],
        "individual_productivity": bool(found.individual_productivity),
        "personal_data_retention_days": retention_days(found),
        "updated_at": found.updated_at,
        "updated_by": found.updated_by or "",
    }


def retention_days(found: RetailerSettings) -> int:
    """Days a closed order keeps its customer's personal data (the default when never saved)."""
    days = found.personal_data_retention_days
    return days if days is not None else DEFAULT_RETENTION_DAYS


def _whole_number(values: dict, name: str, bounds: tuple, errors: dict, clean: dict) -> None:
    value = values[name]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    low, high = bounds
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        errors[name] = (N_("Must be a whole number from %(low)s to %(high)s."), {"low": low, "high": high})
    clean[name] = value


def _stored() -> RetailerSettings:
    """The row, created with the defaults the first time it is changed."""
    found = db.session.get(RetailerSettings, SETTINGS_ID, with_for_update=True)
    if found is None:
        try:
            with db.session.begin_nested():
                found = RetailerSettings(id=SETTINGS_ID, return_window_days=30, failed_capture="hold", updated_by="")
                db.session.add(found)
                db.session.flush()
        except IntegrityError:  # another request stored it first
            found = db.session.get(RetailerSettings, SETTINGS_ID, populate_existing=True, with_for_update=True)
        transaction_cache("retailer_settings").clear()  # payments.settings() may remember them missing
    return found


def _choices(value, allowed: tuple, errors: dict, name: str, *, empty: bool) -> list | None:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        errors[name] = N_("Must be a list of values.")
        return None
    unknown = [item for item in value if item not in allowed]
    if unknown:
        errors[name] = (N_("Unknown value: %(value)s."), {"value": ", ".join(unknown)})
        return None
    if not empty and not value:
        errors[name] = N_("Choose at least one.")
        return None
    chosen = set(value)
    return [item for item in allowed if item in chosen]  # in the standard order, once each


def check(values: dict) -> dict:
    """The values, checked: {name: clean value}; raises InvalidInput with every field at fault."""
    errors: dict = {}
    clean: dict = {}
    for name in set(values) - set(FIELDS):
        errors[name] = N_("Unknown setting.")
    if "return_window_days" in values:
        _whole_number(values, "return_window_days", RETURN_WINDOW, errors, clean)
    if "personal_data_retention_days" in values:
        _whole_number(values, "personal_data_retention_days", RETENTION_DAYS, errors, clean)
    if "return_reasons" in values:
        clean["return_reasons"] = _choices(
            values["return_reasons"], RETURN_REASONS, errors, "return_reasons", empty=False
        )
    if "failed_capture" in values:
        if values["failed_capture"] not in HANDOVER_ON_FAILED_CAPTURE:
            errors["failed_capture"] = N_("Must be hold or hand_over.")
        clean["failed_capture"] = values["failed_capture"]
    if "notifications_off" in values:
        clean["notifications_off"] = _choices(
            values["notifications_off"], NOTIFICATION_KINDS, errors, "notifications_off", empty=True
        )
    if "individual_productivity" in values:
        if not isinstance(values["individual_productivity"], bool):
            errors["individual_productivity"] = N_("Must be true or false.")
        clean["individual_productivity"] = values["individual_productivity"]
    if errors:
        first = next(iter(errors.values()))
        message, params = (N_("Some values are not valid."), {})
        if len(errors) == 1 and isinstance(first, tuple):
            message, params = first
        raise InvalidInput(message, fields=errors, **params)
    return clean


def update_settings(values: dict, *, actor: Actor) -> RetailerSettings:
    """Change some settings (the others stay); refuses everything when one value is invalid. Audited with what
    changed; the same values again change nothing."""
    clean = check(values)
    found = _stored()
    current = settings_as_dict(found)
    changed = {name: value for name, value in clean.items() if current[name] != value}
    if changed:
        for name, value in changed.items():
            setattr(found, name, value)
        found.updated_by = actor.label
        audit.record(actor, "retailer.settings", found, {name: current[name] for name in changed}, changed)
        db.session.flush()
    return found
