"""Identity bundles and the identity folder (mqtt_bridge.identity, mqtt_bridge.contract.identity): what a
device checks before it trusts a bundle, and an install that never half-applies."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from mqtt_bridge.contract.enrolment import enrolment_uri, parse_enrolment_uri
from mqtt_bridge.contract.identity import (
    CLAIM_IDENTITY,
    IdentityConfig,
    IdentityNameError,
    backoffice_identity_name,
    device_identity_name,
    parse_identity_name,
)
from mqtt_bridge.identity import (
    IdentityError,
    IdentityFolder,
    SigningKey,
    default_identity_dir,
    read_config,
    serial_hex,
    sign_config,
    verify_bundle,
    write_bundle,
)
from provisioning import pki

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _ca(name: str = "f") -> tuple[SigningKey, x509.Certificate]:
    return pki.make_ca(name, NOW, 3650)


def _bundle(
    ca: tuple[SigningKey, x509.Certificate], store: str = "s1", device: str = "k1", days: int = 365
) -> dict[str, bytes]:
    ca_key, ca_cert = ca
    key = pki.new_private_key()
    cert = pki.issue_certificate(ca_key, ca_cert, key.public_key(), f"{store}.{device}", now=NOW, days=days)
    config = IdentityConfig(
        fleet="f",
        store_id=store,
        device_id=device,
        broker_url="mqtts://broker.example:8883",
        backoffice_public_keys=["JvY4iU6HfYgKUHMrluQccAe_vr6rqcXLogiRK6A9jyU"],
        certificate_serial=serial_hex(cert),
        issued_at=NOW,
        expires_at=cert.not_valid_after_utc,
    )
    return {
        "ca.pem": pki.cert_pem(ca_cert),
        "cert.pem": pki.cert_pem(cert),
        "key.pem": pki.private_key_pem(key),
        "config.toml": sign_config(config, ca_key).to_toml().encode(),
    }


def test_names_map_onto_the_topic_path_and_never_collide() -> None:
    assert device_identity_name("s1", "k-1") == "s1.k-1"
    assert parse_identity_name("s1.k-1") == ("device", "s1", "k-1")
    assert parse_identity_name(CLAIM_IDENTITY) == ("claim", "", "")
    assert parse_identity_name(backoffice_identity_name("ingest-1")) == ("backoffice", "", "")
    for bad in ("S1.k1", "s1.k.1", "s1", "s1/k1", "", "backoffice-", "x" * 65 + ".k"):
        with pytest.raises(IdentityNameError):
            parse_identity_name(bad)
    with pytest.raises(IdentityNameError):
        device_identity_name("s.1", "k1")


def test_the_enrolment_code_round_trips() -> None:
    code = enrolment_uri("s1", "k1", "A" * 32)
    assert code == "vitrina-enrol:s1/k1/" + "A" * 32
    assert parse_enrolment_uri(f" {code}\n") == ("s1", "k1", "A" * 32)
    with pytest.raises(ValueError, match="not a Vitrina enrolment code"):
        parse_enrolment_uri("https://example.com")


def test_a_signed_config_round_trips_through_toml_and_verifies(tmp_path: Path) -> None:
    files = _bundle(_ca())
    write_bundle(tmp_path, files)
    identity = verify_bundle(tmp_path, NOW)
    assert identity.name == "s1.k1" and identity.config is not None
    assert read_config(tmp_path / "config.toml") == identity.config
    settings = identity.broker_settings()
    assert (settings.host, settings.port, settings.enabled) == ("broker.example", 8883, True)
    assert settings.tls is not None and settings.tls.cert_file == tmp_path / "cert.pem"
    assert settings.commands.public_keys == ["JvY4iU6HfYgKUHMrluQccAe_vr6rqcXLogiRK6A9jyU"]
    assert round(identity.days_left(NOW)) == 365
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (lambda f, ca: f.pop("cert.pem"), "missing_file"),
        (lambda f, ca: f.update({"config.toml": f["config.toml"].replace(b"k1", b"k2")}), "bad_signature"),
        (lambda f, ca: f.update({"ca.pem": pki.cert_pem(_ca("other")[1])}), "wrong_ca"),
        (lambda f, ca: f.update({"key.pem": pki.private_key_pem(pki.new_private_key())}), "key_mismatch"),
        (lambda f, ca: f.update({"config.toml": _bundle(ca)["config.toml"]}), "serial_mismatch"),
        (lambda f, ca: f.update({"cert.pem": b"not a certificate"}), "bad_certificate"),
        (lambda f, ca: f.update({"config.toml": b"role = 'nobody'"}), "bad_config"),
    ],
)
def test_a_bundle_that_fails_a_check_is_refused_naming_it(
    tmp_path: Path, spoil: object, problem: str
) -> None:
    ca = _ca()
    files = _bundle(ca)
    spoil(files, ca)  # type: ignore[operator]
    write_bundle(tmp_path, files)
    with pytest.raises(IdentityError) as refused:
        verify_bundle(tmp_path, NOW)
    assert refused.value.problem == problem, refused.value


def test_time_and_permissions_are_checked(tmp_path: Path) -> None:
    write_bundle(tmp_path, _bundle(_ca(), days=10))
    with pytest.raises(IdentityError) as expired:
        verify_bundle(tmp_path, NOW + timedelta(days=11))
    assert expired.value.problem == "expired"
    with pytest.raises(IdentityError) as early:
        verify_bundle(tmp_path, NOW - timedelta(days=1))
    assert early.value.problem == "not_yet_valid"
    (tmp_path / "key.pem").chmod(0o644)
    with pytest.raises(IdentityError) as loose:
        verify_bundle(tmp_path, NOW)
    assert loose.value.problem == "bad_permissions" and "chmod 600" in str(loose.value)


def test_install_is_all_or_nothing_and_keeps_the_fleet(tmp_path: Path) -> None:
    ca = _ca()
    folder = IdentityFolder(tmp_path / "identity")
    with pytest.raises(IdentityError):
        folder.load(NOW)
    first = folder.install(_bundle(ca), NOW)
    assert folder.current_dir() == first.folder.resolve()
    assert (folder.root / "current").is_symlink()
    # A bundle that does not verify changes nothing, and leaves no folder behind.
    spoiled = _bundle(ca, device="k2")
    spoiled["config.toml"] = spoiled["config.toml"].replace(b"k2", b"k3")
    with pytest.raises(IdentityError):
        folder.install(spoiled, NOW)
    assert folder.current_dir() == first.folder.resolve()
    assert sorted(p.name for p in folder.root.iterdir()) == sorted(["current", first.folder.name])
    # Another fleet's bundle is refused unless the device is told it changes fleet.
    with pytest.raises(IdentityError) as other:
        folder.install(_bundle(_ca("other")), NOW)
    assert other.value.problem == "wrong_ca"
    # Renewals: the one before is kept, older ones are pruned.
    later = [folder.install(_bundle(ca), NOW + timedelta(seconds=i + 1)) for i in range(3)]
    kept = sorted(p.name for p in folder.root.glob("id-*"))
    assert kept == sorted(p.folder.name for p in later[-2:])
    assert folder.load(NOW).folder == later[-1].folder.resolve()


def test_the_default_identity_folder() -> None:
    assert default_identity_dir({}) == Path("/var/lib/vitrina/identity")
    assert default_identity_dir({"VITRINA_IDENTITY_DIR": "/tmp/x"}) == Path("/tmp/x")


def test_a_key_is_never_readable_by_others_even_while_written(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_bundle(tmp_path, _bundle(_ca()))
    finally:
        os.umask(old)
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600


def test_the_topic_tree_knows_the_renewal_topics() -> None:
    from mqtt_bridge.contract.enrolment import renew_topics
    from mqtt_bridge.contract.topics import DeviceTopics, parse_topic

    topics = DeviceTopics("vitrina/v1", "s1", "k1")
    assert renew_topics(topics) == ("vitrina/v1/s1/k1/renew/request", "vitrina/v1/s1/k1/renew/reply")
    assert parse_topic("vitrina/v1", topics.renew_reply).kind == "renew_reply"
    assert parse_topic("vitrina/v1", topics.renew_request).kind == "renew_request"
