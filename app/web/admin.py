"""Admin screens: sourcing rules, location routing settings, returns and customer messages, API clients, webhooks
and dead letters, carriers."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_babel import lazy_gettext
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, InputRequired, Length, NumberRange

from app.core import payments
from app.core.errors import N_, InvalidInput
from app.core.floor import carriers
from app.core.integration import api_clients
from app.core.integration import worker as jobs
from app.core.inventory.catalogue import find_product
from app.core.models import (
    ApiClient,
    Carrier,
    CarrierService,
    DeliveryStatus,
    Location,
    WebhookDelivery,
    WebhookSubscription,
)
from app.core.models.payments import NOTIFICATION_KINDS, RETURN_REASONS
from app.core.ordering import hours, locations, rules
from app.core.payments import retailer_settings
from app.core.uow import unit_of_work
from app.extensions import db
from app.web.helpers import MultiCheckboxField, admin_required, current_actor, render, save_form
from app.web.pickups import PickupSettingsForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
@admin_required
def admins_only():
    """Every admin screen is for admins only."""


def _number(label, bounds):
    low, high = bounds
    return IntegerField(label, validators=[InputRequired(), NumberRange(min=low, max=high)])


class RulesForm(FlaskForm):
    max_splits = _number(lazy_gettext("Most locations one order may be split over"), rules.RULE_RANGES["max_splits"])
    collect_shortage = SelectField(
        lazy_gettext("Click & collect when the pickup store lacks stock"),
        choices=[
            SelectChoice("refuse", lazy_gettext("Refuse the missing units, with a reason")),
            SelectChoice("transfer", lazy_gettext("Transfer them from another location")),
        ],
    )
    pickup_expiry = SelectField(
        lazy_gettext("Click & collect orders nobody came for"),
        choices=[
            SelectChoice("cancel", lazy_gettext("Cancel them")),
            SelectChoice("customer_service", lazy_gettext("Keep them open for customer service to call the customer")),
        ],
    )
    ship_from_warehouses = BooleanField(lazy_gettext("Warehouses may ship orders"))
    workload_km_per_order = _number(
        lazy_gettext("Weight of open work (km per open fulfilment)"), rules.RULE_RANGES["workload_km_per_order"]
    )
    capacity_km = _number(
        lazy_gettext("Weight of a full day (km when today's capacity is used up)"), rules.RULE_RANGES["capacity_km"]
    )
    priority_km = _number(lazy_gettext("Weight of priority (km per point)"), rules.RULE_RANGES["priority_km"])
    unknown_distance_km = _number(
        lazy_gettext("Distance assumed without coordinates (km)"), rules.RULE_RANGES["unknown_distance_km"]
    )


class LocationForm(PickupSettingsForm):
    """Routing and floor settings, with the click & collect ones a store's manager also edits (app.web.pickups)."""

    ships_from_store = BooleanField(lazy_gettext("Ships orders"))
    ship_paused = BooleanField(lazy_gettext("Ship-from-store paused"))
    click_and_collect = BooleanField(lazy_gettext("Offers click & collect"))
    sourcing_priority = _number(
        lazy_gettext("Priority (higher is preferred)"), rules.LOCATION_RANGES["sourcing_priority"]
    )
    daily_capacity = _number(lazy_gettext("Fulfilments per day"), rules.LOCATION_RANGES["daily_capacity"])
    accept_within_minutes = _number(
        lazy_gettext("Minutes to accept (opening hours)"), rules.LOCATION_RANGES["accept_within_minutes"]
    )
    ready_within_minutes = _number(
        lazy_gettext("Minutes to be ready (opening hours)"), rules.LOCATION_RANGES["ready_within_minutes"]
    )
    pick_batch_size = _number(lazy_gettext("Orders per batch pick list"), rules.LOCATION_RANGES["pick_batch_size"])
    scan_mode = SelectField(
        lazy_gettext("Scanning while picking"),
        choices=[
            SelectChoice("every", lazy_gettext("Scan every unit")),
            SelectChoice("first", lazy_gettext("Scan the first unit, then confirm the quantity")),
            SelectChoice("none", lazy_gettext("No scan: tap to confirm")),
        ],
    )
    scan_to_pack = BooleanField(lazy_gettext("Scan each unit when packing"))
    zpl_printer = StringField(
        lazy_gettext("Thermal label printer (host:port, empty for none)"), validators=[Length(max=120)]
    )
    opening_hours = TextAreaField(
        lazy_gettext("Opening hours, one line per day (mon 09:00-12:30, 14:00-19:00 / sun closed)"),
        validators=[DataRequired(), Length(max=800)],
    )


# What the retailer screen calls each return reason and each customer message.
RETURN_REASON_LABELS = {
    "changed_mind": lazy_gettext("Changed their mind"),
    "too_small": lazy_gettext("Too small"),
    "too_large": lazy_gettext("Too large"),
    "not_as_described": lazy_gettext("Not as described"),
    "damaged": lazy_gettext("Damaged"),
    "late": lazy_gettext("Arrived too late"),
    "wrong_item": lazy_gettext("Not the item ordered"),
    "other": lazy_gettext("Other reason"),
}
MESSAGE_LABELS = {
    "order_confirmed": lazy_gettext("Order received"),
    "order_split": lazy_gettext("Order sent in several parts"),
    "order_delayed": lazy_gettext("Order running late"),
    "order_cancelled": lazy_gettext("Order cancelled, in full or in part"),
    "order_changed": lazy_gettext("New delivery address or pickup store"),
    "shipped": lazy_gettext("Order on its way"),
    "pickup_ready": lazy_gettext("Ready for pickup"),
    "pickup_reminder": lazy_gettext("Pickup reminder"),
    "pickup_collected": lazy_gettext("Pickup receipt"),
    "return_received": lazy_gettext("Return received"),
    "refunded": lazy_gettext("Refund made"),
}


class RetailerForm(FlaskForm):
    return_window_days = _number(lazy_gettext("Days a customer has to return items"), retailer_settings.RETURN_WINDOW)
    return_reasons = MultiCheckboxField(
        lazy_gettext("Reasons a return offers"),
        choices=[SelectChoice(reason, RETURN_REASON_LABELS[reason]) for reason in RETURN_REASONS],
    )
    failed_capture = SelectField(
        lazy_gettext("When the payment cannot be taken at a click & collect hand-over"),
        choices=[
            SelectChoice("hold", lazy_gettext("Keep the goods until the payment is settled")),
            SelectChoice("hand_over", lazy_gettext("Hand them over and try the payment again")),
        ],
    )
    messages_on = MultiCheckboxField(
        lazy_gettext("Messages sent to customers"),
        choices=[SelectChoice(kind, MESSAGE_LABELS[kind]) for kind in NOTIFICATION_KINDS],
    )
    individual_productivity = BooleanField(
        lazy_gettext("Show each person's figures to their store's managers and to themselves")
    )


class BlockForm(FlaskForm):
    code = StringField(lazy_gettext("SKU or EAN"), validators=[DataRequired(), Length(max=64)])
    reason = StringField(lazy_gettext("Reason"), validators=[Length(max=150)])


class ApiClientForm(FlaskForm):
    name = StringField(lazy_gettext("Name of the system"), validators=[DataRequired(), Length(max=80)])
    scopes = MultiCheckboxField(
        lazy_gettext("Scopes"),
        choices=[SelectChoice(s, s) for s in sorted(api_clients.SCOPES)],
        validators=[DataRequired()],
    )


class WebhookForm(FlaskForm):
    url = StringField(lazy_gettext("URL"), validators=[DataRequired(), URL(require_tld=False), Length(max=500)])
    secret = StringField(lazy_gettext("Shared secret (16 characters or more)"), validators=[Length(min=16, max=128)])
    event_types = StringField(lazy_gettext("Event types (comma-separated, or *)"), validators=[Length(min=1, max=500)])


@bp.get("/")
def index():
    return redirect(url_for("admin.sourcing"))


@bp.route("/sourcing", methods=["GET", "POST"])
def sourcing():
    current = rules.current_rules()
    form = RulesForm(obj=current)
    status, trigger = 200, None
    if request.method == "POST":
        values = {name: getattr(form, name).data for name in rules.rules_as_dict(current)}
        status, trigger = save_form(form, lambda: rules.update_rules(values, actor=current_actor()))
    locations = db.session.scalars(select(Location).order_by(Location.kind, Location.code)).all()
    return render("admin/sourcing.html", status=status, trigger=trigger, form=form, rules=current, locations=locations)


@bp.route("/retailer", methods=["GET", "POST"])
def retailer():
    """Returns, payments at the counter, which messages customers get, and whether productivity is shown per
    person."""
    current = retailer_settings.settings_as_dict(payments.settings())
    shown = {**current, "messages_on": [k for k in NOTIFICATION_KINDS if k not in current["notifications_off"]]}
    form = RetailerForm(data=None if request.method == "POST" else shown)
    status, trigger = 200, None
    if request.method == "POST":
        values = {
            "return_window_days": form.return_window_days.data,
            "return_reasons": form.return_reasons.data or [],
            "failed_capture": form.failed_capture.data,
            "notifications_off": [k for k in NOTIFICATION_KINDS if k not in (form.messages_on.data or [])],
            "individual_productivity": bool(form.individual_productivity.data),
        }
        status, trigger = save_form(form, lambda: retailer_settings.update_settings(values, actor=current_actor()))
        if status == 200:
            current = retailer_settings.settings_as_dict(payments.settings())
    return render("admin/retailer.html", status=status, trigger=trigger, form=form, settings=current)


def _location(code: str) -> Location:
    location = db.session.scalar(select(Location).where(Location.code == code))
    if location is None:
        abort(404)
    return location


@bp.route("/locations/<location_code>", methods=["GET", "POST"])
def location(location_code):
    place = _location(location_code)
    form = _location_form(place, request.form if request.method == "POST" else None)
    status, trigger = 200, None
    if request.method == "POST":

        def change():
            values = {name: getattr(form, name).data for name in (*rules.LOCATION_FLAGS, *rules.LOCATION_RANGES)}
            values["opening_hours"] = form.opening_hours.data
            values["scan_mode"], values["zpl_printer"] = form.scan_mode.data, form.zpl_printer.data or ""
            rules.update_location(place, values, actor=current_actor())

        status, trigger = save_form(form, change)
    return _location_page(place, form, BlockForm(formdata=None, prefix="block"), status, trigger)


def _location_form(place, formdata) -> LocationForm:
    """The settings form: what was posted, or the location's values with its hours as text."""
    form = LocationForm(formdata=formdata, obj=place)
    if formdata is None:
        form.opening_hours.data = hours.format_hours_text(hours.store_hours(place))
    return form


def _location_page(place, form, block_form, status, trigger):
    return render(
        "admin/location.html",
        status=status,
        trigger=trigger,
        place=place,
        form=form,
        block_form=block_form,
        blocked=rules.blocked_skus(place),
        open_work=locations.open_work([place.id])[place.id],
    )


@bp.post("/locations/<location_code>/open")
def open_or_close(location_code):
    """Close a location (no new work; what is open there is finished as usual) or open it again."""
    place = _location(location_code)
    wanted = request.form.get("active")
    if wanted not in {"true", "false"}:
        abort(400)
    with unit_of_work():
        locations.put_location(place.code, {"active": wanted == "true"}, actor=current_actor())
    return redirect(url_for("admin.location", location_code=place.code), 303)


@bp.post("/locations/<location_code>/blocked")
def block(location_code):
    place = _location(location_code)
    block_form = BlockForm(prefix="block")

    def change():
        product = find_product(block_form.code.data.strip())
        if product is None:
            raise InvalidInput(N_("Unknown product code."), fields={"code": N_("Unknown product code.")})
        rules.block_product(place, product, reason=block_form.reason.data or "", actor=current_actor())

    status, trigger = save_form(block_form, change)
    if status == 200:
        return redirect(url_for("admin.location", location_code=place.code), 303)
    form = _location_form(place, None)
    return _location_page(place, form, block_form, status, trigger)


@bp.post("/locations/<location_code>/blocked/<sku>/remove")
def unblock(location_code, sku):
    place = _location(location_code)
    product = find_product(sku)
    if product is None:
        abort(404)
    with unit_of_work():
        rules.unblock_product(place, product, actor=current_actor())
    return redirect(url_for("admin.location", location_code=place.code), 303)


@bp.route("/api-clients", methods=["GET", "POST"])
def api_client_list():
    form = ApiClientForm(formdata=request.form if request.method == "POST" else None)
    status, trigger, created = 200, None, None
    if request.method == "POST":
        result = {}

        def change():
            result["client"], result["token"] = api_clients.create_api_client(
                form.name.data, form.scopes.data, actor=current_actor()
            )

        status, trigger = save_form(form, change)
        if status == 200:
            created = result
            form = ApiClientForm(formdata=None)
    clients = db.session.scalars(select(ApiClient).order_by(ApiClient.active.desc(), ApiClient.name)).all()
    return render("admin/api_clients.html", status=status, trigger=trigger, form=form, clients=clients, created=created)


@bp.post("/api-clients/<int:client_id>/revoke")
def api_client_revoke(client_id):
    with unit_of_work():
        client = db.session.get(ApiClient, client_id)
        if client is None:
            abort(404)
        api_clients.revoke_api_client(client, actor=current_actor())
    return redirect(url_for("admin.api_client_list"), 303)


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks():
    form = WebhookForm(formdata=request.form if request.method == "POST" else None, event_types="*")
    status, trigger = 200, None
    if request.method == "POST":
        status, trigger = save_form(
            form,
            lambda: jobs.subscribe(form.url.data, form.secret.data, form.event_types.data, actor=current_actor()),
        )
        if status == 200:
            return redirect(url_for("admin.webhooks"), 303)
    subscriptions = db.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)).all()
    counts = dict(
        db.session.execute(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)).all()
    )
    dead = db.session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.status == DeliveryStatus.DEAD)
        .order_by(WebhookDelivery.id.desc())
        .limit(100)
    ).all()
    return render(
        "admin/webhooks.html",
        status=status,
        trigger=trigger,
        form=form,
        subscriptions=subscriptions,
        counts=counts,
        dead=dead,
    )


@bp.post("/webhooks/deliveries/<int:delivery_id>/replay")
def replay(delivery_id):
    with unit_of_work():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            abort(404)
        jobs.replay(delivery, actor=current_actor())
    return redirect(url_for("admin.webhooks"), 303)


# --- carriers and their services ------------------------------------------------------------------------

FORMAT_LABELS = {
    "s10": lazy_gettext("UPU S10 (letters, digits, check digit, country)"),
    "luhn": lazy_gettext("Digits with a Luhn check digit"),
}


class CarrierForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=80)])
    max_weight_grams = IntegerField(
        lazy_gettext("Heaviest parcel (g)"), validators=[InputRequired(), NumberRange(min=1, max=carriers.MAX_WEIGHT)]
    )
    tracking_format = SelectField(
        lazy_gettext("Tracking number format"),
        choices=[SelectChoice(value, label) for value, label in FORMAT_LABELS.items()],
    )
    tracking_prefix = StringField(lazy_gettext("Tracking prefix"), validators=[Length(max=8)])
    tracking_suffix = StringField(lazy_gettext("Tracking suffix (country)"), validators=[Length(max=4)])
    active = BooleanField(lazy_gettext("In use"))


class ServiceForm(FlaskForm):
    code = StringField(lazy_gettext("Code"), validators=[DataRequired(), Length(max=16)])
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=80)])
    price = StringField(lazy_gettext("Price (EUR)"), validators=[DataRequired(), Length(max=12)])
    transit_days = IntegerField(
        lazy_gettext("Working days in transit"), validators=[InputRequired(), NumberRange(min=0, max=30)]
    )
    max_weight_grams = IntegerField(
        lazy_gettext("Heaviest parcel (g)"), validators=[InputRequired(), NumberRange(min=1, max=carriers.MAX_WEIGHT)]
    )
    active = BooleanField(lazy_gettext("In use"), default=True)


def _carriers_page(status=200, trigger=None, forms=None, service_forms=None, new_service_forms=None):
    forms, service_forms, new_service_forms = forms or {}, service_forms or {}, new_service_forms or {}
    rows = carriers.all_carriers()
    for carrier in rows:
        forms.setdefault(carrier.id, CarrierForm(formdata=None, obj=carrier, prefix=f"c{carrier.id}"))
        new_service_forms.setdefault(carrier.id, ServiceForm(formdata=None, prefix=f"n{carrier.id}"))
        for service in carrier.services:
            service_forms.setdefault(service.id, ServiceForm(formdata=None, obj=service, prefix=f"s{service.id}"))
    return render(
        "admin/carriers.html",
        status=status,
        trigger=trigger,
        carriers=rows,
        forms=forms,
        service_forms=service_forms,
        new_service_forms=new_service_forms,
    )


def _save_carriers(form, change, page_forms: dict):
    """Save one carrier or service form; the page shows that form as posted when it is refused."""
    status, trigger = save_form(form, change)
    return _carriers_page(status, trigger, **(page_forms if status != 200 else {}))


def _found(model, record_id: int):
    record = db.session.get(model, record_id)
    if record is None:
        abort(404)
    return record


@bp.get("/carriers")
def carrier_list():
    if not carriers.all_carriers():
        with unit_of_work():
            carriers.ensure_builtin_carriers()
    return _carriers_page()


@bp.post("/carriers/<int:carrier_id>")
def carrier_update(carrier_id):
    carrier = _found(Carrier, carrier_id)
    form = CarrierForm(formdata=request.form, obj=carrier, prefix=f"c{carrier.id}")
    names = ("name", "max_weight_grams", "tracking_format", "tracking_prefix", "tracking_suffix", "active")
    values = {name: getattr(form, name).data for name in names}
    values["tracking_suffix"] = values["tracking_suffix"] or ""
    values["tracking_prefix"] = values["tracking_prefix"] or ""
    return _save_carriers(
        form, lambda: carriers.update_carrier(carrier, values, actor=current_actor()), {"forms": {carrier.id: form}}
    )


def _service_values(form) -> dict:
    return {
        name: getattr(form, name).data
        for name in ("code", "name", "price", "transit_days", "max_weight_grams", "active")
    }


@bp.post("/carriers/<int:carrier_id>/services")
def service_add(carrier_id):
    carrier = _found(Carrier, carrier_id)
    form = ServiceForm(formdata=request.form, prefix=f"n{carrier.id}")
    return _save_carriers(
        form,
        lambda: carriers.add_service(carrier, _service_values(form), actor=current_actor()),
        {"new_service_forms": {carrier.id: form}},
    )


@bp.post("/carrier-services/<int:service_id>")
def service_update(service_id):
    service = _found(CarrierService, service_id)
    form = ServiceForm(formdata=request.form, prefix=f"s{service.id}")
    return _save_carriers(
        form,
        lambda: carriers.update_service(service, _service_values(form), actor=current_actor()),
        {"service_forms": {service.id: form}},
    )
