"""CSV export of tracking events, streamed: shared by the API (`?format=csv`) and the admin action."""

import csv

from django.http import StreamingHttpResponse

from tracking import selectors

CSV_ROWS_PER_CHUNK = 500
# Spreadsheet programs run cells starting with these as formulas (CSV injection): such a cell
# gets a leading apostrophe, which spreadsheets show as text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value):
        return value


def csv_safe(value):
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def events_csv_chunks(rows):
    """The CSV text, a chunk per CSV_ROWS_PER_CHUNK rows (never the whole file in memory)."""
    writer = csv.writer(_Echo())
    yield writer.writerow([api for api, _ in selectors.EVENT_COLUMNS])
    chunk = []
    for row in rows:
        values = list(row)
        values[-1] = selectors.iso_ms(values[-1])
        chunk.append(writer.writerow([csv_safe(value) for value in values]))
        if len(chunk) >= CSV_ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def events_csv_response(query, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        events_csv_chunks(selectors.events_rows(query=query)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
