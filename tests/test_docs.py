"""The project's own documentation lives in the repository (issue 10): a newcomer who clones it finds
every document the README names, no file points outside the repository, and the API contract in
docs/api.md names every route the API has."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from flask import Flask

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Written in two parts so that this file does not mention what it looks for.
OUTSIDE = "../" + "shared"

# [text](target) and [text](target "title"); images too. Not inside `code`.
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def _links(markdown: str) -> list[str]:
    return _LINK.findall(_CODE.sub("", markdown))


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = _CODE.sub(lambda m: m.group(0).strip("`"), heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    without_code = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return {_anchor(m) for m in re.findall(r"(?m)^#{1,6}\s+(.+?)\s*#*$", without_code)}


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    files = []
    for name in listed.stdout.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary
            continue
        files.append(path)
    return files


def test_the_four_documents_exist_and_the_readme_links_each() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in ("domain", "architecture", "api", "operations"):
        assert (ROOT / "docs" / f"{name}.md").is_file(), f"docs/{name}.md is missing"
        assert f"docs/{name}.md" in _links(readme), f"the README does not link docs/{name}.md"


@pytest.mark.parametrize("document", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_of_the_repository(document: Path) -> None:
    broken = []
    for target in _links(document.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not a file of ours
            continue
        path_part, _, fragment = target.partition("#")
        resolved = (document.parent / path_part).resolve() if path_part else document
        if ROOT not in resolved.parents and resolved != ROOT:
            broken.append(f"{target}: outside the repository")
        elif not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in _anchors(resolved.read_text()):
            broken.append(f"{target}: no heading #{fragment} in {resolved.name}")
    assert broken == [], f"{document.relative_to(ROOT)}: broken links: {broken}"


def test_the_link_checker_sees_links() -> None:
    # A checker that finds no links would pass every document: make sure it finds them.
    assert _links("see [a](docs/a.md) and [b](../b.md#x), not `[c](c.md)`") == ["docs/a.md", "../b.md#x"]
    assert _anchor("Who may see what (the rule that must never break)") == (
        "who-may-see-what-the-rule-that-must-never-break")


def test_no_file_of_the_repository_refers_to_the_shared_folder_outside_it() -> None:
    files = _tracked_text_files()
    assert any(path.name == "README.md" for path in files)
    mentioning = [str(path.relative_to(ROOT)) for path in files
                  if OUTSIDE in path.read_text(encoding="utf-8", errors="replace")]
    assert mentioning == [], f"files referring to {OUTSIDE}, which a clone does not have: {mentioning}"


def _api_routes(app: Flask) -> list[str]:
    """Every route under /api/v1 as docs/api.md writes it: method and path, each parameter as {id}."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<[^>]+>", "{id}", rule.rule)
        routes += [f"{method} {path}" for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})]
    return sorted(routes)


def _named(route: str, text: str) -> bool:
    # "GET /api/v1/referrals" must not be found inside "GET /api/v1/referrals/{id}".
    return re.search(re.escape(route) + r"(?![\w/{.])", text) is not None


def test_the_api_contract_names_every_route_of_the_api(app: Flask) -> None:
    routes = _api_routes(app)
    assert "POST /api/v1/referrals/{id}/accept" in routes  # the walk finds the routes at all
    contract = (ROOT / "docs" / "api.md").read_text().split("## Additions to build")[0]
    missing = [route for route in routes if not _named(route, contract)]
    assert missing == [], f"routes of the app that docs/api.md does not name: {missing}"


def test_the_api_contract_names_no_route_the_api_does_not_have(app: Flask) -> None:
    routes = set(_api_routes(app))
    contract = (ROOT / "docs" / "api.md").read_text().split("## Additions to build")[0]
    named = set(re.findall(r"\b(GET|POST|PATCH|PUT|DELETE) (/api/v1/[\w/{}.\-]*[\w}])", contract))
    invented = sorted(f"{method} {path}" for method, path in named if f"{method} {path}" not in routes)
    assert invented == [], f"docs/api.md lists routes the app does not have (move them to Additions): {invented}"
