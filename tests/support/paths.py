"""Where the repository is, for tests that run its scripts or read its files."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fresh_python(code: str, timeout: float = 300):
    """Run `code` in a new interpreter at the repository root (nothing imported or compiled before it):
    the finished subprocess.CompletedProcess, text output captured."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
