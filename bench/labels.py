"""Label rendering throughput on one core: label_pdf, label_zpl and labels_pdf (batches of 100).

    .venv/bin/python bench/labels.py [-n 500]

Renders N distinct labels (every tracking number and QR payload differs, so no cache helps) in this
process pinned to CPU 0. Exits 1 if label_pdf is below 50 labels/s (the target for batch printing).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labels.data import Address, ShippingLabel
from labels.shipping import label_pdf, label_zpl, labels_pdf

TARGET = 50.0  # label_pdf labels per second, one core

SENDER = Address("Comptoir Paris Bastille", "12 rue de la Roquette", "75011", "Paris", "FR", phone="+33 1 23 45 67 89")
CITIES = [("69002", "Lyon"), ("13001", "Marseille"), ("20121", "Milano"), ("31000", "Toulouse"), ("00-001", "Łódź")]


def make_labels(count: int) -> list[ShippingLabel]:
    labels = []
    for i in range(count):
        postcode, city = CITIES[i % len(CITIES)]
        tracking = f"CX{100000000 + i * 7919:09d}FR"
        parcel_count = i % 3 + 1
        parcel_no = i % parcel_count + 1
        labels.append(
            ShippingLabel(
                sender=SENDER,
                recipient=Address(
                    f"Françoise Lefèvre {i}",
                    f"{i % 90 + 1} rue de l'Église",
                    postcode,
                    city,
                    "FR",
                    line2=f"Bât. {i % 7}",
                ),
                carrier_name="Colis Express",
                service_name="Express 24h" if i % 2 else "Standard",
                tracking_number=tracking,
                weight_grams=250 + i * 13 % 9000,
                parcel_no=parcel_no,
                parcel_count=parcel_count,
                order_reference=f"CMD-2026-{i:06d}",
                when="2026-11-23",
                routing=f"CX|EXP|FR|{postcode}|{tracking}|{parcel_no}/{parcel_count}",
            )
        )
    return labels


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f}/s  ({seconds * 1000 / count:6.2f} ms each)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=500, help="labels per measurement (default 500)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
        pinned = "pinned to CPU 0"
    else:
        pinned = "not pinned (no sched_setaffinity here)"
    print(f"Python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs, {pinned}")

    labels = make_labels(args.n)
    warm = make_labels(args.n + 20)[args.n :]  # distinct from the measured ones: the QR cache stays cold
    for label in warm[:10]:
        label_pdf(label)
        label_zpl(label)

    start = time.perf_counter()
    pdf_bytes = sum(len(label_pdf(label)) for label in labels)
    pdf_seconds = time.perf_counter() - start
    print(f"label_pdf   {args.n} labels  {rate(args.n, pdf_seconds)}  avg {pdf_bytes // args.n} bytes")

    labels = make_labels(args.n * 2)[args.n :]  # fresh values again
    start = time.perf_counter()
    zpl_bytes = sum(len(label_zpl(label)) for label in labels)
    zpl_seconds = time.perf_counter() - start
    print(f"label_zpl   {args.n} labels  {rate(args.n, zpl_seconds)}  avg {zpl_bytes // args.n} bytes")

    labels = make_labels(args.n * 3)[args.n * 2 :]
    batches = [labels[i : i + 100] for i in range(0, len(labels), 100)]
    start = time.perf_counter()
    batch_bytes = sum(len(labels_pdf(batch)) for batch in batches)
    batch_seconds = time.perf_counter() - start
    print(
        f"labels_pdf  {len(batches)} x 100    {rate(len(labels), batch_seconds)}  avg {batch_bytes // len(batches)} bytes/batch"
    )

    pdf_rate = args.n / pdf_seconds
    if pdf_rate < TARGET:
        print(f"FAIL: label_pdf {pdf_rate:.1f}/s is below the {TARGET:.0f}/s target")
        return 1
    print(f"OK: label_pdf {pdf_rate:.1f}/s >= {TARGET:.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
