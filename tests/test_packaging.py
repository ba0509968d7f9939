"""The project's layout (templates in a top-level ``templates/`` folder beside ``panel_app/``,
``agencies/`` and ``migrations/``) and what an installed package carries: the wheel holds every
template under ``panel_app/templates``, and the app built from the installed package finds them there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]


def test_the_templates_live_beside_the_package_and_the_app_finds_them_there(app) -> None:
    assert (ROOT / "templates" / "base.html").is_file()
    assert not (ROOT / "panel_app" / "templates").exists()
    assert app.jinja_env.get_template("base.html").filename == str(ROOT / "templates" / "base.html")


def test_the_package_list_names_every_package_of_the_checkout() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = find_packages(str(ROOT), include=["panel_app*", "agencies*"])
    assert sorted(declared) == sorted([*found, "panel_app.templates"])


def test_an_installed_package_carries_the_templates_and_uses_them(tmp_path: Path) -> None:
    # Built from a copy: a build writes into the tree it builds, and the other database's run may be
    # building at the same moment.
    source = tmp_path / "source"
    for name in ("panel_app", "agencies", "templates"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(tmp_path / "wheel"), str(source)],
        capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "wheel").glob("panel_app-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "installed")
    in_checkout = {path.relative_to(ROOT).as_posix() for path in (ROOT / "templates").rglob("*") if path.is_file()}
    assert {f"panel_app/{name}" for name in in_checkout} <= names

    # The installed package, imported from where it was unpacked (not the checkout), finds its own copy.
    probe = ("import panel_app; app = panel_app.create_app({'SQLALCHEMY_DATABASE_URI': 'sqlite://', 'TESTING': True});"
             "print(panel_app.__file__); print(app.jinja_env.get_template('emails/action_assigned.txt').filename)")
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path / "installed")})
    assert ran.returncode == 0, ran.stderr[-2000:]
    package_file, template_file = ran.stdout.split()
    installed = tmp_path / "installed" / "panel_app"
    assert package_file == str(installed / "__init__.py")
    assert template_file == str(installed / "templates" / "emails" / "action_assigned.txt")
