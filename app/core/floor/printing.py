"""Printing labels: batches rendered a chunk at a time into one PDF, and ZPL sent straight to a thermal printer."""

import io
import re
import socket
from collections.abc import Callable, Iterable

from pypdf import PdfReader, PdfWriter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, DomainError, InvalidInput
from app.core.models import (
    Fulfilment,
    LabelStatus,
    Location,
    Parcel,
    PrintJob,
    PrintJobChunk,
    PrintJobStatus,
    ShippingLabel,
)
from app.extensions import db

MAX_LABELS = 500
HOST_PORT = re.compile(
    r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,98}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?$"
)
DEFAULT_PORT = 9100


class PrinterUnreachable(DomainError):
    code = "printer_unreachable"
    http_status = 502
    message = N_("The label printer %(printer)s does not answer. Check it is on and on the network.")


def parse_printer(host_port: str) -> tuple[str, int]:
    """("host", port) from "host" or "host:port" (port 9100 by default); InvalidInput otherwise."""
    match = HOST_PORT.match((host_port or "").strip())
    port = int(match["port"]) if match and match["port"] else DEFAULT_PORT
    if match is None or not 1 <= port <= 65535:
        raise InvalidInput(
            N_("A printer address is a host name or IP address, with an optional :port."),
            field="zpl_printer",
        )
    return match["host"].strip("[]"), port


def send_zpl(host_port: str, zpl: bytes, timeout: float = 3) -> None:
    """Send ZPL to a thermal printer's raw port (9100 by default)."""
    host, port = parse_printer(host_port)
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(zpl)
    except OSError as exc:
        raise PrinterUnreachable(printer=f"{host}:{port}") from exc


def store_labels(location: Location, label_ids: Iterable[int]) -> list[ShippingLabel]:
    """The labels in force among these ids that belong to this store, in the order given."""
    ids = [int(i) for i in label_ids]
    rows = db.session.scalars(
        select(ShippingLabel)
        .join(Parcel, ShippingLabel.parcel_id == Parcel.id)
        .join(Fulfilment, Parcel.fulfilment_id == Fulfilment.id)
        .where(
            ShippingLabel.id.in_(ids), Fulfilment.location_id == location.id, ShippingLabel.status == LabelStatus.ACTIVE
        )
    ).all()
    by_id = {row.id: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def start_print_job(location: Location, label_ids: Iterable[int], user=None, *, actor: Actor | None = None) -> PrintJob:
    """A print job for these labels of this store (others are left out); refused when none is left."""
    labels = store_labels(location, label_ids)
    if not labels:
        raise InvalidInput(N_("There is no label to print."), field="labels")
    if len(labels) > MAX_LABELS:
        raise InvalidInput(N_("At most %(n)s labels at a time."), field="labels", n=MAX_LABELS)
    job = PrintJob(
        location_id=location.id,
        user_id=user.id if user is not None else None,
        label_ids=[label.id for label in labels],
        done=0,
        status="running",
    )
    db.session.add(job)
    db.session.flush()
    if actor is not None:
        audit.record(actor, "print.start", job, None, {"labels": len(labels)})
    return job


def print_step(job: PrintJob, render_chunk: Callable[[list[ShippingLabel]], bytes], size: int = 10) -> PrintJob:
    """Render the next `size` labels of the job into a chunk; after the last one the job is done.

    render_chunk turns labels into one PDF (the web layer passes labels_pdf with the store's captions).
    Two steps at once for the same chunk: one wins, the other changes nothing.
    """
    if job.status == PrintJobStatus.DONE:
        return job
    ids = job.label_ids[job.done : job.done + size]
    labels = {label.id: label for label in db.session.scalars(select(ShippingLabel).where(ShippingLabel.id.in_(ids)))}
    printable = [
        labels[i] for i in ids if i in labels and labels[i].status == LabelStatus.ACTIVE
    ]  # voided meanwhile: left out
    if printable:
        pdf = render_chunk(printable)
        try:
            with db.session.begin_nested():
                db.session.add(PrintJobChunk(job_id=job.id, seq=job.done, pdf=pdf))
                db.session.flush()
        except IntegrityError:  # another step rendered this chunk meanwhile
            db.session.refresh(job)
            return job
    job.done = min(job.total, job.done + len(ids))
    if job.done >= job.total:
        job.status = "done"
    db.session.flush()
    db.session.expire(job, ["chunks"])
    return job


def job_pdf(job: PrintJob) -> bytes:
    """The chunks of a finished job merged into one PDF."""
    writer = PdfWriter()
    for chunk in job.chunks:
        writer.append(PdfReader(io.BytesIO(chunk.pdf)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
