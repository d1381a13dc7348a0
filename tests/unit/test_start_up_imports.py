"""What every server process loads at start-up: heavy libraries used only now and then load
on first use (peak memory during uploads counts every resident MiB)."""

from __future__ import annotations

import subprocess
import sys


def test_the_app_loads_no_pdf_library_until_a_letter_is_drawn() -> None:
    probe = ("import sys, bot.app; "
             "print(sorted(m for m in ('fpdf', 'fontTools', 'uharfbuzz', 'botocore') "
             "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
