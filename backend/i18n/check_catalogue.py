"""Fails when an English message has no usable Simplified Chinese translation.

Run as `python -m backend.i18n.check_catalogue`: it extracts the messages afresh (so a string added to
the code or a template without updating the .po is caught, even if messages.pot was not regenerated),
then checks every one against the zh_CN catalogue. Exit status 0 = complete, 1 = problems listed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from backend.i18n import LOCALES

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = LOCALES / "zh_CN" / "LC_MESSAGES" / "messages.po"
# The same keywords as the documented `pybabel extract` command.
KEYWORDS = ["-k", "_", "-k", "gettext", "-k", "ngettext:1,2"]
# A printf-style conversion, or a lone "%": templates use newstyle gettext, which always applies
# `msgstr % variables`, so a stray "%" in a translation would break the page.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]?")


def extract() -> list[Message]:
    """The messages the code and templates use now, by the rules in babel.cfg."""
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "messages.pot"
        # The pybabel CLI in a child process: exactly the documented command, and Babel's logging
        # settings do not leak into the caller (the test suite).
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "babel.messages.frontend",
                "extract",
                "-F",
                str(ROOT / "babel.cfg"),
                *KEYWORDS,
                "--no-location",
                "-o",
                str(pot),
                ".",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,  # failure is reported below
        )
        if result.returncode:
            # Jinja's error names the line but not the file; the log names each file before reading it.
            log = result.stderr.strip().splitlines() or ["(no output)"]
            culprit = next((line for line in reversed(log) if line.startswith("extracting messages from")), "")
            sys.exit("\n".join(["Message extraction failed:", culprit, *log[-2:]]))
        with pot.open("rb") as source:
            return [message for message in read_po(source) if message.id]


def placeholders(text: str) -> tuple[list[str], list[str]]:
    tokens = PLACEHOLDER.findall(text)
    # Named ones may move around in a translation; positional ones must keep their order.
    return sorted(t for t in tokens if t.startswith("%(")), [t for t in tokens if not t.startswith("%(")]


def problems() -> list[str]:
    with CATALOGUE.open("rb") as source:
        catalogue = read_po(source, locale="zh_CN")
    found = []
    if catalogue.fuzzy:
        # A fuzzy header is dropped when compiling, and with it the Plural-Forms line.
        found.append("header: marked fuzzy")
    for wanted in extract():
        msgid = wanted.id[0] if wanted.pluralizable else wanted.id
        # Chinese has one form for every count, so it must carry the placeholders of the English plural.
        english = wanted.id[-1] if wanted.pluralizable else wanted.id
        entry = catalogue.get(wanted.id, wanted.context)
        if entry is None:
            found.append(f"missing: {msgid!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy or not all(strings):
            found.append(f"{'fuzzy' if entry.fuzzy else 'untranslated'}: {msgid!r}")
        for string in strings:
            if string and placeholders(string) != placeholders(english):
                found.append(f"placeholders differ: {english!r} -> {string!r}")
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(problem)
    if found:
        print(
            f"{len(found)} problem(s) in {CATALOGUE.relative_to(ROOT)}; run `pybabel update` and translate the new messages.",
            file=sys.stderr,
        )
        return 1
    print(f"{CATALOGUE.relative_to(ROOT)}: every message is translated.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
