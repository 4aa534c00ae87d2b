"""Command barcodes printed on pick lists and screens, so a handheld scanner can drive the work without a touch."""

CONFIRM = "CMD:CONFIRM"
SHORT = "CMD:SHORT"
NEXT = "CMD:NEXT"
NEW_PARCEL = "CMD:NEW-PARCEL"
UNDO = "CMD:UNDO"

ALL = (CONFIRM, SHORT, NEXT, NEW_PARCEL, UNDO)


def command(code: str) -> str | None:
    """The command a scanned code stands for, if it is one (scanners may add spaces or change case)."""
    value = (code or "").strip().upper()
    return value if value in ALL else None
