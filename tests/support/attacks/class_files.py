"""Hostile class lists as the attack run of issue 26 wrote them: repeated names, empty lines and one line of
200 kB, in a file an editor would still open."""
from __future__ import annotations

LONG_LINE = 200_001   # characters of the one long line (line 6)


def hostile_class_names() -> bytes:
    """class_names.txt bytes: line 2 empty, line 4 repeats line 3, line 6 is 200 kB long."""
    lines = ["background", "", "red thing", "red thing", "green thing", "x" * LONG_LINE, "blue thing"]
    return ("\n".join(lines) + "\n").encode("utf-8")
