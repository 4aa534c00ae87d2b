"""Reports as CSV files a spreadsheet opens as they are: UTF-8 with a byte order mark (Excel then reads the accents
right), `;` between columns and a decimal comma for French and Italian readers (their Excel's list separator),
`,` and a decimal point in English.

Two kinds of header row: the machine column names (the API, scripts: the same in every language) or the column
titles in the reader's language (exports from the screens). `rows_to_csv` writes either; `csv_response` wraps it
in a download.

    rows_to_csv(rows, columns, language="fr", translated_headers=True) -> bytes
    csv_response(rows, columns, filename, language="en", translated_headers=False) -> flask.Response
    dialect(language) -> (delimiter, decimal_separator)
    COLUMN_TITLES: {machine name: msgid}; column_title(name) -> the title in the current language
"""

import csv
import io
from datetime import date, datetime

from flask_babel import force_locale, gettext

from app.core.errors import N_

BOM = "\ufeff"
COMMA_LANGUAGES = {"fr", "it"}

COLUMN_TITLES = {
    "date": N_("Date"),
    "period": N_("Period starting"),
    "first": N_("First day"),
    "last": N_("Last day"),
    "location": N_("Store"),
    "received": N_("Orders received"),
    "ordered_units": N_("Units ordered"),
    "accepted": N_("Orders accepted"),
    "rejected": N_("Orders rejected"),
    "acceptance_rate": N_("Acceptance rate"),
    "rejection_rate": N_("Rejection rate"),
    "picked_lines": N_("Lines picked"),
    "picked_units": N_("Units picked"),
    "short_units": N_("Units short"),
    "fill_rate": N_("Fill rate"),
    "short_pick_rate": N_("Short-pick rate"),
    "ready": N_("Orders ready"),
    "on_time_ready": N_("Orders ready on time"),
    "late_ready": N_("Orders ready late"),
    "on_time_rate": N_("On-time rate"),
    "median_minutes_to_ready": N_("Median minutes to ready"),
    "p90_minutes_to_ready": N_("90th percentile minutes to ready"),
    "promised": N_("Orders with a promised date"),
    "on_time_promised": N_("Orders sent by the promised date"),
    "promised_on_time_rate": N_("On-time rate against the promised date"),
    "shipped": N_("Orders shipped"),
    "collected": N_("Orders collected"),
    "expired": N_("Orders not collected"),
    "no_show_rate": N_("No-show rate"),
    "median_minutes_collect_to_ready": N_("Click & collect: median minutes to ready"),
    "p90_minutes_collect_to_ready": N_("Click & collect: 90th percentile minutes to ready"),
    "median_minutes_to_collection": N_("Median minutes from ready to collection"),
    "p90_minutes_to_collection": N_("90th percentile minutes from ready to collection"),
    "returns": N_("Returns received"),
    "returned_units": N_("Units returned"),
    "returns_rate": N_("Returns rate"),
    "rejected_reasons": N_("Rejection reasons"),
    "short_products": N_("Products short"),
    "return_reasons": N_("Return reasons"),
}


def dialect(language: str | None) -> tuple[str, str]:
    """The column delimiter and decimal separator a reader of this language's spreadsheet expects."""
    if (language or "en").split("-")[0].split("_")[0].lower() in COMMA_LANGUAGES:
        return ";", ","
    return ",", "."


def column_title(name: str) -> str:
    """A column's title in the current language (the machine name when it has none)."""
    title = COLUMN_TITLES.get(name)
    return gettext(title) if title else name


def _cell(value, decimal: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
        return text.replace(".", decimal)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return " | ".join(f"{key}: {count}" for key, count in value.items())
    return str(value)


def lines_to_csv(header: list[str], lines, language: str | None = "en") -> bytes:
    """A header and lines of cells already written as text, as CSV bytes: BOM, the reader's delimiter, CRLF."""
    delimiter, _decimal = dialect(language)
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(lines)
    return out.getvalue().encode("utf-8")


def rows_to_csv(rows, columns, language: str = "en", translated_headers: bool = False) -> bytes:
    """The rows (dicts) as CSV bytes: BOM, header row, one line per row, in the reader's conventions."""
    _delimiter, decimal = dialect(language)
    if translated_headers:
        with force_locale(language):
            header = [column_title(c) for c in columns]
    else:
        header = list(columns)
    return lines_to_csv(header, ([_cell(row.get(c), decimal) for c in columns] for row in rows), language)


def download(body: bytes, filename: str):
    """CSV bytes as a download (text/csv; charset=utf-8, attachment)."""
    from flask import Response

    response = Response(body, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_response(rows, columns, filename: str, language: str = "en", translated_headers: bool = False):
    """A download of the rows as CSV."""
    return download(rows_to_csv(rows, columns, language, translated_headers), filename)
