"""/definitions works from any install, not only from a source checkout: the documents it renders ship as
package data (``backoffice/web/definitions/``), copies of the repository's docs/ files, which are their
one source. Checked here: every copy equals its source; the page renders them; and a wheel built from the
tree carries them, so the page of a non-editable install (the wheel unpacked, imported instead of this
checkout) shows them too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from backoffice.web.routes.ops import DEFINITION_DOCS, DEFINITIONS, render_definitions

REPO = Path(__file__).resolve().parent.parent
PACKAGED = REPO / "backoffice" / "web" / "definitions"


def test_every_packaged_definition_is_a_copy_of_its_docs_source() -> None:
    assert sorted(p.name for p in PACKAGED.iterdir()) == sorted(DEFINITION_DOCS), (
        f"{PACKAGED} must hold exactly the documents /definitions renders: {DEFINITION_DOCS}"
    )
    for name in DEFINITION_DOCS:
        source = (REPO / "docs" / name).read_bytes()
        assert (PACKAGED / name).read_bytes() == source, (
            f"backoffice/web/definitions/{name} differs from docs/{name}, its source; copy it after editing "
            f"docs/: cp docs/{name} backoffice/web/definitions/{name}"
        )


def test_the_page_renders_the_packaged_documents() -> None:
    assert Path(str(DEFINITIONS)) == PACKAGED  # importlib.resources, not a path into the source tree
    html = render_definitions()
    assert "is missing from this install" not in html
    assert 'id="frustration"' in html and 'id="k-suppression"' in html  # backoffice-data.md
    assert html.count("<h1") == len(DEFINITION_DOCS)


def test_a_missing_document_says_so(tmp_path: Path) -> None:
    html = render_definitions(tmp_path)
    assert html.count("is missing from this install") == len(DEFINITION_DOCS)


#: What the wheel is built from: what pyproject.toml packages (tests and docs are not in it).
_SOURCES = ("pyproject.toml", "README.md", "kiosk", "edge_models", "mqtt_bridge", "cloud_sync", "backoffice")
_SOURCES += ("provisioning", "offer_layout")

#: Run by the unpacked wheel's Python path: the app from the wheel (asserted), /definitions signed in.
_PROBE = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    import backoffice
    from backoffice.db import open_database
    from web_helpers import make_app, sign_in

    site = Path(sys.argv[1])
    assert Path(backoffice.__file__).is_relative_to(site), f"imported {backoffice.__file__}, not the wheel"
    db = open_database(f"sqlite:///{site.parent / 'store.sqlite'}")
    app, _ = make_app(db, lambda: datetime.now(UTC))
    response = sign_in(app, "viewer-user").get("/definitions")
    assert response.status_code == 200, response.status_code
    assert "is missing from this install" not in response.text, "a definitions document is missing"
    assert 'id="frustration"' in response.text
    print("definitions from", Path(backoffice.__file__).parent)
    """
)


@pytest.mark.slow
def test_a_wheel_install_renders_the_definitions(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in _SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    # The dev extra's setuptools builds it, here, without an index (no build isolation).
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-index", "--no-deps", "--no-build-isolation"]
    built = subprocess.run(
        [*pip_wheel, "-w", str(tmp_path / "wheel"), str(src)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    (wheel,) = (tmp_path / "wheel").glob("vitrina-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"backoffice/web/definitions/{n}" for n in DEFINITION_DOCS} <= names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # The unpacked wheel first on the path, ahead of this checkout's editable install; the tests' helpers
    # after it. Run from tmp_path, so the working directory holds no package either.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO / "tests")])}
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, str(site)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stdout[-2000:] + probe.stderr[-3000:]
