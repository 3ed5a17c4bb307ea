"""The README and docs/ stay true to the tree: every repository path they quote exists, every relative link and
anchor resolves, and nothing points outside the repository (the design lives in docs/design/)."""
import re

import pytest

from tests.support.paths import ROOT

DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
TOP = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")} | {".ci"}
PATHLIKE = (".py", ".md", ".json", ".png", ".sh", ".toml", ".desktop", ".xml", ".svg")


def _body(path) -> str:
    """The text outside fenced code blocks (command examples may name files the user creates)."""
    return re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _quoted_paths(text: str) -> list[str]:
    """Backticked tokens that name a file or folder of this repository (they start with a top-level entry)."""
    out = []
    for tok in re.findall(r"`([^`\n]+)`", text):
        tok = tok.strip()
        if " " in tok or "*" in tok or "<" in tok or "=" in tok:
            continue
        first = tok.split("/")[0]
        if ("/" in tok and first in TOP) or (tok in TOP and tok.endswith(PATHLIKE)):
            out.append(tok.split(":")[0].rstrip("/"))
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_quoted_path_exists(doc):
    missing = [p for p in _quoted_paths(_body(doc)) if not (ROOT / p).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} quotes paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(doc):
    problems = []
    for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", _body(doc)):
        if re.match(r"^[a-z]+:", target):
            continue                                     # web links are not checked offline
        path, _, anchor = target.partition("#")
        full = (doc.parent / path).resolve() if path else doc
        if not full.is_relative_to(ROOT.resolve()):
            problems.append(f"outside the repository: {target}")
        elif not full.exists():
            problems.append(f"broken: {target}")
        elif anchor and full.suffix == ".md":
            headings = re.findall(r"^#+\s+(.*)$", _body(full), re.M)
            if anchor not in {_slug(h) for h in headings}:
                problems.append(f"no heading #{anchor} in {full.relative_to(ROOT.resolve())}")
    assert not problems, f"{doc.relative_to(ROOT)}: {problems}"


def test_readme_opens_with_the_two_commands_and_stays_short():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    head = "\n".join(text.splitlines()[:40])
    assert "make run" in head and "make test" in head
    assert len(text.splitlines()) <= 170
    assert "../shared" not in text and all("../shared" not in d.read_text(encoding="utf-8") for d in DOCS)


def test_the_check_catches_a_missing_path():
    assert _quoted_paths("see `engine/no_such_module.py` and `gui/session/controller.py`") == [
        "engine/no_such_module.py", "gui/session/controller.py"]
    assert not (ROOT / "engine/no_such_module.py").exists()
