"""The run summary: drawn on a terminal, plain lines elsewhere, Markdown only in the UI."""

import io

from sync_pipeline.terminal_summary import plain_text, print_markdown

SUMMARY = (
    "**cars full**: 3,000 records in 12 pages, 1.2 s (9.8 pages/s, p95 41 ms)\n"
    "\n"
    "| inserted | updated | unchanged | delisted | quarantined | live rows |\n"
    "|---:|---:|---:|---:|---:|---:|\n"
    "| 3,000 | 0 | 0 | 0 | 0 | 3,000 |\n"
    "\n"
    "**pvp eu|3v3** equipment of 12 entries, `cars_api` pool"
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_the_summary_is_plain_lines():
    out = io.StringIO()
    print_markdown(SUMMARY, out)
    assert out.getvalue().splitlines() == [
        "cars full: 3,000 records in 12 pages, 1.2 s (9.8 pages/s, p95 41 ms)",
        "",
        "inserted 3,000, updated 0, unchanged 0, delisted 0, quarantined 0, live rows 3,000",
        "",
        "pvp eu|3v3 equipment of 12 entries, cars_api pool",
    ]
    assert plain_text("no markdown here") == "no markdown here"


def test_on_a_terminal_the_table_is_drawn_and_no_markdown_shows():
    out = Terminal()
    print_markdown(SUMMARY, out)
    shown = out.getvalue()
    assert "**" not in shown and "|---" not in shown and "---:" not in shown
    assert "\x1b[1m" in shown, "the title is bold"
    assert any(ch in shown for ch in "│┃━─"), "the table is drawn with box characters"
    assert "inserted" in shown and "3,000" in shown and "live rows" in shown
