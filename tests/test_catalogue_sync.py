"""Signed catalogue releases: sign and verify (mqtt_bridge.catalogue), install (kiosk.link.catalogue_sync).

Real input: the demo catalogue (kiosk/demo_assets/catalogue.toml) and its pictures, read the way
`backoffice publish-catalogue` reads them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import kiosk.link.catalogue_sync as cs
from backoffice.cli import read_catalogue_files
from kiosk.decisions.offers import load_catalogue
from kiosk.link.catalogue_sync import CatalogueInstaller, load_installed
from mqtt_bridge.catalogue import CatalogueRejectedError, build_release, sign_release, verify_release
from mqtt_bridge.contract.payloads import CatalogueAsset, CatalogueRelease, CatalogueResult
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.signing import b64url_encode, public_key_text

KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
PUBLIC = [public_key_text(KEY)]
DEMO = Path(__file__).resolve().parent.parent / "kiosk" / "demo_assets" / "catalogue.toml"
ISSUED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _demo() -> tuple[str, dict[str, bytes]]:
    return read_catalogue_files(DEMO)


def _release(version: int = 1, store: str = "s1", key: Ed25519PrivateKey | None = KEY) -> CatalogueRelease:
    text, files = _demo()
    release = build_release(store, version, ISSUED, text, files)
    return sign_release(release, key) if key is not None else release


def _payload(release: CatalogueRelease) -> bytes:
    return release.model_dump_json().encode("utf-8")


def _retitled(version: int, title: str) -> bytes:
    text, files = _demo()
    doc = json.loads(text)
    doc["offers"][0]["title"]["en"] = title
    files["images/coffee.png"] += version.to_bytes(4, "big")  # a new picture in every version
    return _payload(sign_release(build_release("s1", version, ISSUED, json.dumps(doc), files), KEY))


# --- sign and verify -------------------------------------------------------------------------------------


def test_a_signed_release_of_the_demo_catalogue_verifies() -> None:
    verified = verify_release(
        _payload(_release()), [Ed25519PrivateKey.generate().public_key(), KEY.public_key()]
    )
    assert verified.release.version == 1
    assert set(verified.files) == {f"images/{n}.png" for n in ("coffee", "croissant", "family", "help")}
    for name, data in verified.files.items():
        assert data == (DEMO.parent / name).read_bytes()


def _problem(payload: bytes, **kwargs: object) -> str:
    with pytest.raises(CatalogueRejectedError) as caught:
        verify_release(payload, [KEY.public_key()], **kwargs)  # type: ignore[arg-type]
    return caught.value.problem


def test_a_tampered_catalogue_is_a_bad_signature() -> None:
    release = _release()
    tampered = release.model_copy(update={"catalogue": release.catalogue.replace("149", "1")})
    assert tampered.catalogue != release.catalogue
    assert _problem(_payload(tampered)) == "bad_signature"


def test_a_tampered_asset_is_a_bad_signature() -> None:
    release = _release()
    first = release.assets[0]
    evil = b"\x89PNG evil"
    swapped = first.model_copy(
        update={"data": b64url_encode(evil), "sha256": hashlib.sha256(evil).hexdigest(), "size": len(evil)}
    )
    tampered = release.model_copy(update={"assets": [swapped, *release.assets[1:]]})
    assert _problem(_payload(tampered)) == "bad_signature"


def test_an_asset_not_matching_its_hash_is_refused_even_when_signed() -> None:
    release = _release(key=None)
    first = release.assets[0]
    wrong = first.model_copy(update={"sha256": "0" * 64})
    signed = sign_release(release.model_copy(update={"assets": [wrong, *release.assets[1:]]}), KEY)
    assert _problem(_payload(signed)) == "asset_mismatch"


def test_wrong_key_unsigned_too_large_not_json_bad_schema_wrong_store() -> None:
    assert _problem(_payload(_release(key=OTHER_KEY))) == "bad_signature"
    assert _problem(_payload(_release(key=None))) == "unsigned"
    payload = _payload(_release())
    assert _problem(payload, max_bytes=len(payload) - 1) == "too_large"
    assert _problem(b"\xff{not json") == "not_json"
    assert _problem(b'{"schema_version": 1, "store_id": "s1"}') == "bad_schema"
    assert _problem(payload.replace(b'"schema_version":1', b'"schema_version":2')) == "bad_schema"
    assert _problem(payload, store_id="s2") == "wrong_store"
    garbage_signature = _release().model_copy(update={"signature": "!!!"})
    assert _problem(_payload(garbage_signature)) == "bad_signature"


@pytest.mark.parametrize("name", ["../etc/passwd", "/abs.png", "a//b.png", ".hidden", "a/../b", "a\\b.png"])
def test_asset_names_cannot_leave_the_catalogue_folder(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        CatalogueAsset(name=name, sha256="0" * 64, size=0)


def test_the_error_message_names_the_problem() -> None:
    with pytest.raises(
        CatalogueRejectedError, match=r"too_large: the release is \d+ bytes, more than the limit"
    ):
        verify_release(_payload(_release()), [KEY.public_key()], max_bytes=100)


# --- installer -------------------------------------------------------------------------------------------


def _installer(directory: Path) -> CatalogueInstaller:
    return CatalogueInstaller(directory, PUBLIC, store_id="s1")


def test_install_then_load(tmp_path: Path) -> None:
    result = _installer(tmp_path).install(_payload(_release(3)))
    assert (result.status, result.version, result.installed_version) == ("installed", 3, 3), result.reason
    loaded = load_installed(tmp_path)
    assert loaded is not None
    catalogue, base = loaded
    assert catalogue == load_catalogue(DEMO)
    assert catalogue.missing_images(base) == []
    assert (base / "images" / "coffee.png").read_bytes() == (DEMO.parent / "images/coffee.png").read_bytes()
    assert result.catalogue == catalogue
    assert result.image_base == base
    payload = result.payload(DeviceTopics("vitrina/v1", "s1", "d1"), ISSUED)
    assert CatalogueResult.model_validate_json(payload.model_dump_json()) == payload


def test_nothing_installed_loads_as_none(tmp_path: Path) -> None:
    assert load_installed(tmp_path) is None
    assert load_installed(tmp_path / "absent") is None


def test_an_older_or_same_version_is_kept_and_changes_nothing(tmp_path: Path) -> None:
    installer = _installer(tmp_path)
    assert installer.install(_retitled(5, "Version five")).status == "installed"
    for version in (5, 4, 1):
        result = installer.install(_retitled(version, f"replayed {version}"))
        assert (result.status, result.installed_version) == ("kept", 5), result
        assert "not newer" in result.reason
    loaded = load_installed(tmp_path)
    assert loaded is not None
    assert loaded[0].offers[0].title.en == "Version five"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (lambda: _payload(_release(2, key=OTHER_KEY)), "bad_signature"),
        (lambda: _payload(_release(2, store="s2")), "wrong_store"),
        (lambda: b"{", "not_json"),
        (lambda: _retitled(2, ""), "invalid catalogue: offers.0.title.en"),
    ],
)
def test_a_refused_release_keeps_the_last_good_one(tmp_path: Path, payload: object, reason: str) -> None:
    installer = _installer(tmp_path)
    assert installer.install(_retitled(1, "Good one")).status == "installed"
    result = installer.install(payload())  # type: ignore[operator]
    assert result.status == "refused"
    assert reason in result.reason
    assert result.installed_version == 1
    loaded = load_installed(tmp_path)
    assert loaded is not None
    assert loaded[0].offers[0].title.en == "Good one"


def test_an_image_that_is_not_an_asset_is_refused(tmp_path: Path) -> None:
    text, files = _demo()
    del files["images/help.png"]
    payload = _payload(sign_release(build_release("s1", 1, ISSUED, text, files), KEY))
    result = _installer(tmp_path).install(payload)
    assert result.status == "refused"
    assert "image 'images/help.png' is not among the assets" in result.reason
    assert load_installed(tmp_path) is None


def test_an_asset_without_data_installs_only_when_the_device_holds_it(tmp_path: Path) -> None:
    installer = _installer(tmp_path)
    text, files = _demo()
    full = build_release("s1", 1, ISSUED, text, files)
    lean = full.model_copy(
        update={"version": 2, "assets": [a.model_copy(update={"data": None}) for a in full.assets]}
    )
    fresh = CatalogueInstaller(tmp_path / "other", PUBLIC, store_id="s1").install(
        _payload(sign_release(lean, KEY))
    )
    assert fresh.status == "refused"
    assert "not in the release and not already on this device" in fresh.reason
    assert installer.install(_payload(sign_release(full, KEY))).status == "installed"
    result = installer.install(_payload(sign_release(lean, KEY)))
    assert (result.status, result.installed_version) == ("installed", 2), result.reason
    loaded = load_installed(tmp_path)
    assert loaded is not None
    assert loaded[0].missing_images(loaded[1]) == []


def test_old_versions_and_their_assets_are_pruned(tmp_path: Path) -> None:
    installer = _installer(tmp_path)
    text, files = _demo()
    for version in range(1, 5):
        changed = {**files, "images/coffee.png": files["images/coffee.png"] + bytes([version])}
        payload = _payload(sign_release(build_release("s1", version, ISSUED, text, changed), KEY))
        assert installer.install(payload).status == "installed"
    assert sorted(p.name for p in (tmp_path / "versions").iterdir()) == ["3", "4"]
    assert len(list((tmp_path / "assets").iterdir())) == 3 + 2  # three shared pictures, two coffees


def test_a_damaged_current_version_falls_back_to_the_one_before(tmp_path: Path) -> None:
    installer = _installer(tmp_path)
    assert installer.install(_retitled(1, "One")).status == "installed"
    assert installer.install(_retitled(2, "Two")).status == "installed"
    image = tmp_path / "versions" / "2" / "files" / "images" / "coffee.png"
    image.unlink()
    image.write_bytes(b"damaged")
    loaded = load_installed(tmp_path)
    assert loaded is not None
    assert loaded[0].offers[0].title.en == "One"


class _Crash(BaseException):
    """A power cut: not an Exception, so no clean-up code runs."""


def _count_fs_steps(tmp_path: Path) -> int:
    calls = 0
    original = cs._write_durably

    def counting(path: Path, data: bytes) -> None:
        nonlocal calls
        calls += 1
        original(path, data)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cs, "_write_durably", counting)
        installer = _installer(tmp_path)
        installer.install(_retitled(1, "Old"))
        calls = 0
        installer.install(_retitled(2, "New"))
    return calls


@pytest.mark.parametrize("failure", [_Crash, OSError])
def test_a_failure_at_any_write_leaves_the_previous_catalogue(
    tmp_path: Path, failure: type[BaseException]
) -> None:
    steps = _count_fs_steps(tmp_path / "count")
    assert steps == 4  # the new picture, manifest, catalogue, current
    original = cs._write_durably
    for fail_at in range(1, steps + 1):
        folder = tmp_path / f"{failure.__name__}-{fail_at}"
        installer = _installer(folder)
        assert installer.install(_retitled(1, "Old")).status == "installed"
        calls = 0

        def failing(path: Path, data: bytes, at: int = fail_at) -> None:
            nonlocal calls
            calls += 1
            if calls == at:
                # Half a temporary file is what a crash leaves behind.
                path.with_name(f".{path.name}.crash.tmp").write_bytes(data[: len(data) // 2])
                raise failure("simulated failure")
            original(path, data)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(cs, "_write_durably", failing)
            if failure is _Crash:
                with pytest.raises(_Crash):
                    installer.install(_retitled(2, "New"))
            else:
                result = installer.install(_retitled(2, "New"))
                assert (result.status, result.installed_version) == ("refused", 1)
                assert "OSError" in result.reason
        loaded = load_installed(folder)
        assert loaded is not None, fail_at
        assert loaded[0].offers[0].title.en == "Old", fail_at
        # The next install cleans up and succeeds.
        again = _installer(folder).install(_retitled(2, "New"))
        assert again.status == "installed", (fail_at, again.reason)
        assert not list(folder.rglob("*.tmp"))
        loaded = load_installed(folder)
        assert loaded is not None
        assert loaded[0].offers[0].title.en == "New"


def test_a_crash_after_the_version_folder_but_before_current(tmp_path: Path) -> None:
    installer = _installer(tmp_path)
    assert installer.install(_retitled(1, "Old")).status == "installed"
    original = cs._write_durably

    def crash_on_current(path: Path, data: bytes) -> None:
        if path.name == "current":
            raise _Crash
        original(path, data)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cs, "_write_durably", crash_on_current)
        with pytest.raises(_Crash):
            installer.install(_retitled(2, "New"))
    assert (tmp_path / "versions" / "2" / "catalogue.json").is_file()  # complete, but never switched to
    loaded = load_installed(tmp_path)
    assert loaded is not None
    assert loaded[0].offers[0].title.en == "Old"
    assert installer.installed_version == 1


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2048))
def test_any_bytes_are_a_clean_refusal(tmp_path: Path, junk: bytes) -> None:
    folder = tmp_path / "fuzz"
    if not folder.exists():
        shutil.copytree(_seed_install(tmp_path), folder)
    result = _installer(folder).install(junk)
    assert result.status == "refused"
    assert result.reason.split(":")[0] in {"not_json", "bad_schema"}
    assert result.installed_version == 1


_MUTATIONS = st.sampled_from(["version", "store_id", "catalogue", "signature", "issued_at", "assets"])


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    _MUTATIONS, st.one_of(st.none(), st.integers(-5, 10**12), st.text(max_size=30), st.binary(max_size=30))
)
def test_mutated_releases_are_never_installed(tmp_path: Path, field: str, value: object) -> None:
    folder = tmp_path / "mutated"
    if not folder.exists():
        shutil.copytree(_seed_install(tmp_path), folder)
    data = json.loads(_retitled(2, "Mutated"))
    mutated = value.hex() if isinstance(value, bytes) else value
    assume(data[field] != mutated)
    data[field] = mutated
    result = _installer(folder).install(json.dumps(data).encode())
    assert result.status in {"refused", "kept"}
    assert result.installed_version == 1
    loaded = load_installed(folder)
    assert loaded is not None
    assert loaded[0].offers[0].title.en == "Seed"


def _seed_install(tmp_path: Path) -> Path:
    seed = tmp_path / "seed"
    if not seed.exists():
        assert _installer(seed).install(_retitled(1, "Seed")).status == "installed"
    return seed


def test_a_durable_write_interrupted_before_the_rename_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "current"
    target.write_bytes(b"1\n")

    def cut(_fd: int) -> None:
        raise _Crash

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cs.os, "fsync", cut)
        with pytest.raises(_Crash):
            cs._write_durably(target, b"2\n")
    assert target.read_bytes() == b"1\n"
    cs._write_durably(target, b"2\n")
    assert target.read_bytes() == b"2\n"


_SIGNED = _retitled(2, "Flipped")


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, len(_SIGNED) - 1), st.integers(1, 255))
def test_a_flipped_byte_is_refused_or_changes_nothing_signed(tmp_path: Path, index: int, flip: int) -> None:
    folder = tmp_path / "flipped"
    if not folder.exists():
        shutil.copytree(_seed_install(tmp_path), folder)
    damaged = bytearray(_SIGNED)
    damaged[index] ^= flip
    result = _installer(folder).install(bytes(damaged))
    if result.status == "installed":  # only an equivalent spelling (e.g. 'z' for 'Z') may pass
        original = CatalogueRelease.model_validate_json(_SIGNED)
        assert CatalogueRelease.model_validate_json(bytes(damaged)) == original
        shutil.rmtree(folder)
    else:
        assert result.status == "refused", result
        loaded = load_installed(folder)
        assert loaded is not None
        assert loaded[0].offers[0].title.en == "Seed"


# --- the back office's side: reading a catalogue file --------------------------------------------------


def test_a_json_catalogue_reads_like_its_toml_twin(tmp_path: Path) -> None:
    text, files = _demo()
    shutil.copytree(DEMO.parent / "images", tmp_path / "images")
    twin = tmp_path / "catalogue.json"
    twin.write_text(text, encoding="utf-8")
    assert read_catalogue_files(twin) == (text, files)
    assert json.loads(text)["offers"][0]["valid_from"] == "2026-01-01"  # TOML dates become ISO text


def test_publish_refuses_a_missing_image_or_an_oversized_release_before_connecting(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from backoffice.cli import main

    runner = CliRunner()
    key = tmp_path / "bo.pem"
    assert runner.invoke(main, ["keygen", "--out", str(key)]).exit_code == 0
    # Port 9 (discard): nothing listens, so reaching the broker would fail differently.
    common = ["publish-catalogue", "--broker", "mqtt://127.0.0.1:9", "--key", str(key), "--store", "s1"]
    big = runner.invoke(main, [*common, "--catalogue", str(DEMO), "--version", "1", "--max-bytes", "1000"])
    assert big.exit_code == 1
    assert "more than --max-bytes 1000: shrink the images" in big.output
    lonely = tmp_path / "catalogue.toml"
    lonely.write_text(DEMO.read_text(encoding="utf-8"), encoding="utf-8")
    missing = runner.invoke(main, [*common, "--catalogue", str(lonely), "--version", "1"])
    assert missing.exit_code == 1
    assert "image 'images/coffee.png'" in missing.output
