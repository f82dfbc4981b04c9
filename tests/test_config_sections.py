"""The kiosk's own config sections: every setting is documented in examples/kiosk.toml, at its default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kiosk.config import KioskConfig, load_config

SECTIONS = (
    "camera",
    "storage",
    "ui",
    "tracker",
    "audience",
    "engagement",
    "offers",
    "staff",
    "runtime",
    "presence",
    "emotion",
    "perception",
)


@pytest.mark.parametrize("section", SECTIONS)
def test_every_setting_is_in_the_example_at_its_default(repo_root: Path, section: str) -> None:
    text = (repo_root / "examples" / "kiosk.toml").read_text(encoding="utf-8")
    body = text.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
    keys = set(re.findall(r"^#?\s*([a-z_0-9]+)\s*=", body, flags=re.MULTILINE))
    model = type(getattr(KioskConfig(), section))
    assert set(model.model_fields) <= keys, f"[{section}] misses {set(model.model_fields) - keys}"
    example = getattr(load_config(repo_root / "examples" / "kiosk.toml"), section)
    # The example shows its offers: the one setting that differs from its default on purpose.
    if section == "offers":
        assert example.catalogue == Path("examples/catalogue.toml")
        example = example.model_copy(update={"catalogue": None})
    assert example == getattr(KioskConfig(), section)
