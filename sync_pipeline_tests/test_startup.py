"""The collector around a command's start-up: paused for lasting imports, then frozen out of
them, only in the console script's process."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from sync_pipeline import startup
{setup}
before = gc.get_freeze_count()
with startup.lasting_imports():
    paused = not gc.isenabled()
    import email.mime.multipart, xml.dom.minidom
print(paused, gc.isenabled(), gc.get_freeze_count() > before)
"""


def probe(setup: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_the_console_script_pauses_then_freezes_what_lasting_imports_built() -> None:
    assert probe("startup.console_process()") == "True True True"


def test_another_process_keeps_its_collector_as_it_was() -> None:
    assert probe("") == "False True False"


def test_the_console_script_is_the_entry_that_does_it() -> None:
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "sync-pipeline"]
    assert script.value == "sync_pipeline.cli:run"
