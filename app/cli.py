"""Operator commands: `flask demo load`, `flask users create`, `flask orders import`, `flask stock import`,
`flask products import`, `flask locations import`, `flask shelves import`, `flask reports rollup`."""

import sys
from contextlib import contextmanager
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.core.actor import Actor
from app.core.errors import DomainError, untranslated
from app.core.models import DeliveryStatus
from app.core.uow import unit_of_work

demo_cli = AppGroup("demo", help="Demo data.")
users_cli = AppGroup("users", help="User accounts.")
api_client_cli = AppGroup("api-client", help="Systems that call the JSON API.")
orders_cli = AppGroup("orders", help="Orders.")
stock_cli = AppGroup("stock", help="Stock.")
products_cli = AppGroup("products", help="The catalogue.")
locations_cli = AppGroup("locations", help="Stores and warehouses.")
shelves_cli = AppGroup("shelves", help="Where products sit in each store (the pick path).")
reports_cli = AppGroup("reports", help="The stores' days in figures (what the board and the reports read).")
customers_cli = AppGroup("customers", help="Customers' personal data: export, erase (docs/PRIVACY.md).")
IMPORT_ACTOR = "cli-import"


def _refused(error: DomainError) -> click.ClickException:
    """A refused core operation as the CLI says it: the reason, then each field's."""
    details = "; ".join(f"{path}: {text}" for path, text in error.field_messages(untranslated).items())
    return click.ClickException(f"{error} {details}".strip())


@api_client_cli.command("create")
@click.argument("name")
@click.option(
    "--scopes",
    required=True,
    help="Comma-separated: orders:read,orders:write,stock:read,stock:write,settings:read,settings:write,"
    "products:read,products:write,fulfilments:write,returns:write",
)
def api_client_create(name, scopes):
    """Register an API client and print its token once (only a hash is stored)."""
    from app.core.integration.api_clients import create_api_client

    try:
        with unit_of_work():
            client, token = create_api_client(name, scopes.split(","), actor=Actor.system("cli"))
    except DomainError as error:
        raise _refused(error) from error
    click.echo(f"API client {client.name} created with scopes {client.scopes}.")
    click.echo("Token (shown once, store it now):")
    click.echo(token)


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Only load when the database has no location yet.")
def demo_load(if_empty):
    """Load the demo retailer (idempotent) and print the demo logins."""
    from sqlalchemy import func, select

    from app.core.models import Location
    from app.core.people.users import find_user_by_email
    from app.demo import DEMO_ADMIN_EMAIL, DEMO_PASSWORD, load_demo
    from app.extensions import db

    has_data = db.session.scalar(select(func.count()).select_from(Location))
    if if_empty and has_data and find_user_by_email(DEMO_ADMIN_EMAIL) is None:
        click.echo("The database already holds a retailer's data: demo not loaded.")
        return
    with unit_of_work():
        summary = load_demo(actor=Actor.system("demo"))
    from app.core import payments

    payments.run_committed()  # the demo's captures and voids, answered by the test provider, as after a request
    click.echo(summary.describe())
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for email, role, store in summary.logins:
        click.echo(f"  {email:<32} {role:<10} {store}")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["associate", "manager", "admin"]), default="associate")
@click.option("--store", "stores", multiple=True, help="Store code; repeat for several stores.")
@click.password_option()
def users_create(email, name, role, stores, password):
    """Create a user who can sign in."""
    from sqlalchemy import select

    from app.core.models import Location
    from app.core.people import users
    from app.extensions import db

    try:
        with unit_of_work():
            locations = db.session.scalars(select(Location).where(Location.code.in_(stores))).all()
            missing = set(stores) - {loc.code for loc in locations}
            if missing:
                raise click.BadParameter(f"unknown store code(s): {', '.join(sorted(missing))}")
            users.create_user(
                email=email, name=name, password=password, role=role, stores=locations, actor=Actor.system("cli")
            )
    except DomainError as error:
        raise _refused(error) from error
    click.echo(f"Created {role} {email}")


@contextmanager
def _progress(label: str, length: int):
    """A progress bar on stderr; yields the function that advances it by n rows."""
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update


def _report(result, what: str) -> None:
    """The summary, one line per rejected row, and exit status 1 when anything was rejected."""
    click.echo(result.describe())
    for line in result.rejection_lines():
        click.echo(f"  {line}")
    for warning in result.warnings:
        click.echo(f"  warning: {warning}")
    if result.rejected:
        if not result.written:
            click.echo(
                f"Fix the rejected rows and import the file again, or pass --skip-invalid to import the valid {what}.",
                err=True,
            )
        click.get_current_context().exit(1)


def _file_format(file: Path, given: str | None) -> str:
    """csv or jsonl: as given, else from the file's extension."""
    from app.core.integration import imports

    file_format = given or imports.detect_format(file)
    if file_format is None:
        raise click.UsageError(
            f"Cannot tell the format of {file.name}: name it .csv, .jsonl or .ndjson, or pass --format."
        )
    return file_format


@orders_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "jsonl"]),
    help="csv: one row per order line; jsonl: one API order body per line. Default: from the extension.",
)
@click.option("--skip-invalid", is_flag=True, help="Import the valid orders even when others are rejected.")
def orders_import(file, file_format, skip_invalid):
    """Import orders from FILE (.csv, .jsonl or .ndjson): all of them, or nothing unless --skip-invalid.

    \b
    CSV columns: channel,external_ref,customer_name,method,sku,quantity (required) and
    customer_email,customer_phone,customer_language,pickup_location,line1,line2,postcode,city,
    country,latitude,longitude,unit_price,promised_by,currency. Rows with the same channel and
    external_ref are the lines of one order. Orders already there with the same content are left alone.
    Exit status 1 when a row is rejected.
    """
    from app.core.integration import imports

    file_format = _file_format(file, file_format)
    try:
        records = imports.read_orders(file, file_format)
    except imports.ImportFileError as error:
        raise click.ClickException(str(error)) from error
    with _progress("Importing orders", sum(len(r.rows) for r in records)) as advance:
        result = imports.import_orders(
            records, actor=Actor.system(IMPORT_ACTOR), skip_invalid=skip_invalid, progress=advance
        )
    _report(result, "orders")


@stock_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Apply the valid rows even when others are rejected.")
def stock_import(file, skip_invalid):
    """Import stock from a CSV FILE: all rows, or nothing unless --skip-invalid.

    \b
    location,sku,on_hand                   absolute counts; units reserved for open orders stay reserved
    location,sku,delta[,reason,reference]  signed changes (importing the file twice applies them twice)
    Exit status 1 when a row is rejected.
    """
    from app.core.integration import imports

    try:
        mode, records = imports.read_stock(file)
    except imports.ImportFileError as error:
        raise click.ClickException(str(error)) from error
    with _progress(f"Importing stock {'counts' if mode == 'count' else 'changes'}", len(records)) as advance:
        result = imports.import_stock(
            mode,
            records,
            actor=Actor.system(IMPORT_ACTOR),
            reference=f"import:{file.name}"[:120],
            skip_invalid=skip_invalid,
            progress=advance,
        )
    _report(result, "rows")


@products_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "jsonl"]),
    help="csv: one row per product; jsonl: one API product body (with its sku) per line. Default: from the extension.",
)
@click.option("--skip-invalid", is_flag=True, help="Import the valid products even when others are rejected.")
def products_import(file, file_format, skip_invalid):
    """Create or replace products from FILE (.csv, .jsonl or .ndjson): all of them, or nothing unless --skip-invalid.

    \b
    CSV columns: sku (required), name, name_en, name_fr, name_it (name or one of them), gtin, barcodes,
    style, size, colour, category, weight_grams, length_mm, width_mm, height_mm, image_url, flags, active.
    barcodes and flags hold several values separated by | (flags: fragile, hazmat); active is true or false.
    A row replaces the product as PUT /api/v1/products/{sku} does: an empty cell empties the field.
    Products already there with the same content are left alone. Exit status 1 when a row is rejected.
    """
    from app.core.integration import imports, product_imports

    file_format = _file_format(file, file_format)
    try:
        records = product_imports.read_products(file, file_format)
    except imports.ImportFileError as error:
        raise click.ClickException(str(error)) from error
    with _progress("Importing products", len(records)) as advance:
        result = product_imports.import_products(
            records, actor=Actor.system(IMPORT_ACTOR), skip_invalid=skip_invalid, progress=advance
        )
    _report(result, "products")


def _import_csv(read, apply, file: Path, skip_invalid: bool, label: str, what: str) -> None:
    """Read a CSV file into records, apply them with a progress bar, report (the locations and shelves imports)."""
    from app.core.integration import imports

    try:
        records = read(file)
    except imports.ImportFileError as error:
        raise click.ClickException(str(error)) from error
    with _progress(label, len(records)) as advance:
        result = apply(records, actor=Actor.system(IMPORT_ACTOR), skip_invalid=skip_invalid, progress=advance)
    _report(result, what)


@locations_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Import the valid locations even when others are rejected.")
def locations_import(file, skip_invalid):
    """Create or change stores and warehouses from a CSV FILE: all of them, or nothing unless --skip-invalid.

    \b
    Columns: code,name (required) and type (store or warehouse), timezone, line1, line2, postcode, city,
    country, latitude, longitude, ships, click_and_collect, returns, capacity_per_day, active (true/false),
    opening_hours (days separated by |: mon 09:00-19:00|sun closed), carriers (CX 17:30|CL 16:00: when
    each carrier collects). As PUT /api/v1/locations/{code}: an
    empty cell keeps the value; without coordinates the postcode area's centre is used (FR, IT).
    Exit status 1 when a row is rejected.
    """
    from app.core.integration import network_imports

    _import_csv(
        network_imports.read_locations,
        network_imports.import_locations,
        file,
        skip_invalid,
        "Importing locations",
        "locations",
    )


@shelves_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows even when others are rejected.")
def shelves_import(file, skip_invalid):
    """Put products at their shelf places from a CSV FILE: all rows, or nothing unless --skip-invalid.

    \b
    Columns: location,sku,shelf (required; shelf as aisle-bay or aisle-bay-level, e.g. A3-12-2) and sequence
    (an explicit place in the pick path). Exit status 1 when a row is rejected.
    """
    from app.core.integration import network_imports

    _import_csv(
        network_imports.read_shelves,
        network_imports.import_shelves,
        file,
        skip_invalid,
        "Importing shelf places",
        "rows",
    )


@users_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Import the valid people even when others are rejected.")
def users_import(file, skip_invalid):
    """Import staff from a CSV FILE: all of them, or nothing unless --skip-invalid.

    \b
    email,name,role,stores,language   role: associate, manager or admin; stores: codes separated by ;
                                      language: en, fr, it or empty
    A new person gets no password they know: give them a temporary one on the staff screen (Reset the
    password). A person already there (same e-mail) is brought up to date. Exit status 1 when a row is rejected.
    """
    from app.core.integration import imports

    _import_csv(imports.read_users, imports.import_users, file, skip_invalid, "Importing staff", "people")


webhooks_cli = AppGroup("webhooks", help="Webhook subscriptions and dead letters.")


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every job once and stop.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between passes.")
@click.option(
    "--metrics-port",
    type=int,
    envvar="WORKER_METRICS_PORT",
    help="Serve this worker's Prometheus metrics (webhook deliveries, payment steps) on this port, on every "
    "interface of a private network: no token is asked (WORKER_METRICS_PORT).",
)
def worker(once, interval, metrics_port):
    """Run background jobs (webhooks, missed acceptances, pickup holds and reminders, customer e-mails and text
    messages); several workers may run at once."""
    import time

    from app.core.integration import worker as jobs
    from app.observability import configure_logging

    configure_logging()
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)

    figures_every = float(current_app.config.get("WORKER_FIGURES_SECONDS", 60))
    figures_at = float("-inf")
    while True:
        figures = time.monotonic() - figures_at >= figures_every  # the costly per-store jobs, about once a minute
        if figures:
            figures_at = time.monotonic()
        try:
            result = jobs.run_once(figures=figures)
        except Exception:  # run_once logs each failing job itself; even so, a pass never ends the worker
            jobs.log.exception("worker pass failed")
            if once:
                raise
            result = {}
        if once or any(result.values()):
            click.echo(" ".join(f"{k}={v}" for k, v in result.items()))
        if once:
            return
        time.sleep(interval)


@webhooks_cli.command("add")
@click.argument("url")
@click.option("--secret", required=True, help="Shared secret for the HMAC-SHA256 signature.")
@click.option("--events", default="*", show_default=True, help="Comma-separated event types, or *.")
def webhooks_add(url, secret, events):
    """Subscribe a URL to events."""
    from app.core.integration import worker as jobs

    try:
        with unit_of_work():
            subscription = jobs.subscribe(url, secret, events, actor=Actor.system("cli"))
    except DomainError as error:
        raise _refused(error) from error
    click.echo(f"Subscription {subscription.id} -> {subscription.url} ({subscription.event_types})")


@webhooks_cli.command("dead")
def webhooks_dead():
    """List dead-lettered deliveries."""
    from sqlalchemy import select

    from app.core.models import WebhookDelivery
    from app.extensions import db

    for d in db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.status == DeliveryStatus.DEAD)):
        click.echo(f"{d.id}\tevent {d.event_id}\t{d.subscription.url}\t{d.attempts} attempts\t{d.last_error}")


@webhooks_cli.command("replay")
@click.argument("delivery_id", type=int)
def webhooks_replay(delivery_id):
    """Queue a dead-lettered delivery again."""
    from app.core.integration import worker as jobs
    from app.core.models import WebhookDelivery
    from app.extensions import db

    with unit_of_work():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise click.ClickException(f"No delivery {delivery_id}.")
        jobs.replay(delivery, actor=Actor.system("cli"))
    click.echo(f"Delivery {delivery_id} queued again.")


@reports_cli.command("rollup")
@click.option("--store", "store_code", help="One location's code; every location when left out.")
@click.option("--from", "first", type=click.DateTime(formats=["%Y-%m-%d"]), help="First day (default: yesterday).")
@click.option("--to", "last", type=click.DateTime(formats=["%Y-%m-%d"]), help="Last day, included (default: today).")
def reports_rollup(store_code, first, last):
    """Roll up (again) the days of one or every location from the raw rows: after an import of history, or to
    rebuild rows. Each day is committed on its own; running it twice gives the same rows."""
    from datetime import timedelta

    from sqlalchemy import select

    from app.core import reports
    from app.core.models import Location
    from app.core.models.base import utcnow
    from app.extensions import db

    statement = select(Location).order_by(Location.code)
    if store_code:
        statement = statement.where(Location.code == store_code)
    locations = db.session.scalars(statement).all()
    if store_code and not locations:
        raise click.ClickException(f"No location {store_code}.")
    ids = [location.id for location in locations]
    total = 0
    for location_id in ids:
        location = db.session.get(Location, location_id)
        today = reports.local_day(location, utcnow())
        start = first.date() if first else today - timedelta(days=1)
        end = last.date() if last else today
        if start > end:
            raise click.ClickException("--from must be on or before --to.")
        total += reports.backfill(location, start, end)
        click.echo(f"{location.code}: {start} to {end} rolled up.")
    click.echo(f"{total} days rolled up.")


@customers_cli.command("export")
@click.argument("email")
def customers_export(email):
    """Print, as JSON, everything held about the customer of this e-mail (their orders, messages, payments)."""
    import json

    from app.core import privacy

    try:
        with unit_of_work():
            data = privacy.export(email)
    except DomainError as error:
        raise _refused(error) from error
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@customers_cli.command("erase")
@click.argument("email")
@click.option("--reason", default="the customer's request", show_default=True, help="Why (kept in the audit trail).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def customers_erase(email, reason, yes):
    """Erase the name, contacts and addresses of the customer of this e-mail from their closed orders (the orders,
    payments and stock ledger stay). Refused while one of their orders is open. Running it twice is harmless."""
    from app.core import privacy

    try:
        with unit_of_work():
            count = len(privacy.orders_of(email))
    except DomainError as error:
        raise _refused(error) from error
    if not yes:
        click.confirm(f"Erase the personal data of {count} order(s)? This cannot be undone.", abort=True)
    try:
        with unit_of_work(writes=True):
            summary = privacy.erase(email, actor=Actor.system("cli"), reason=reason)
    except DomainError as error:
        raise _refused(error) from error
    click.echo(
        f"{summary['orders']} order(s) erased ({summary['emails']} e-mails, {summary['text_messages']} text "
        f"messages, {summary['audit_events']} audit entries, {summary['api_answers']} stored API answers); "
        f"audited as {summary['email_sha256']}."
    )


@customers_cli.command("erase-expired")
def customers_erase_expired():
    """Erase the personal data of every order closed longer ago than the retailer's retention period (the worker
    does it too, a few batches a pass)."""
    from app.core import privacy

    total = 0
    while True:
        erased = privacy.erase_expired()
        total += erased
        if erased < privacy.BATCH * privacy.MAX_BATCHES:
            break
    click.echo(f"{total} order(s) erased.")


@click.command("doctor")
def doctor():
    """Say whether this configuration can serve: the database, its migrations, each Redis (as /readyz does).
    Exits 1 when something is not ready."""
    from app import health

    ready, body = health.report()
    for name, check in body["checks"].items():
        extra = ", ".join(f"{k} {v}" for k, v in check.items() if k not in {"ok", "detail"})
        detail = " - ".join(part for part in (check.get("detail", ""), extra) if part)
        click.echo(f"{'ok  ' if check['ok'] else 'FAIL'}  {name}{': ' + detail if detail else ''}")
    click.echo("ready" if ready else "NOT READY: " + ", ".join(body["failing"]))
    if not ready:
        sys.exit(1)


@click.command("check")
def check():
    """Check the ledger's invariants over the whole database (stock equals its ledger, reservations match open
    work, payments never exceed); exits 1 when one fails. Reads only."""
    from app.core import checks

    results = checks.run()
    for result in results:
        click.echo(result.line())
    failed = [r.name for r in results if not r.ok]
    click.echo(f"{len(results) - len(failed)} of {len(results)} invariants hold.")
    if failed:
        sys.exit(1)


def register(app: Flask) -> None:
    app.cli.add_command(doctor)
    app.cli.add_command(check)
    app.cli.add_command(demo_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(api_client_cli)
    app.cli.add_command(webhooks_cli)
    app.cli.add_command(worker)
    app.cli.add_command(orders_cli)
    app.cli.add_command(stock_cli)
    app.cli.add_command(products_cli)
    app.cli.add_command(locations_cli)
    app.cli.add_command(shelves_cli)
    app.cli.add_command(reports_cli)
    app.cli.add_command(customers_cli)
