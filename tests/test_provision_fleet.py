"""The fleet's commands without a broker: ca init, broker-config's files, tokens, the CSR path, and the
layering (the server's commands never import the device side; every command has help with an example)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mqtt_bridge.identity import make_csr, new_private_key, read_config
from provisioning.cli import COMMANDS, DEVICE_COMMANDS, LazyGroup, main

RUN = CliRunner()


def _invoke(*args: str) -> str:
    result = RUN.invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    _invoke(
        "ca", "init", "--dir", str(root), "--name", "acme", "--broker-url", "mqtts://broker.acme.test:8883"
    )
    return root


def test_ca_init_makes_the_fleet_with_private_keys_0600_and_says_how_to_back_up(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    out = _invoke(
        "ca",
        "init",
        "--dir",
        str(root),
        "--broker-url",
        "mqtts://broker.acme.test:8883",
        "--host",
        "10.0.0.5",
    )
    assert "BACK UP NOW" in out and "ca/ca.key" in out and "registry.sqlite" in out
    assert root.stat().st_mode & 0o777 == 0o700
    keys = [
        root / "ca/ca.key",
        root / "broker/server.key",
        root / "signing/commands.pem",
        *(root / name / "key.pem" for name in ("backoffice", "enrolment", "admin", "claim")),
    ]
    for key in keys:
        assert key.stat().st_mode & 0o777 == 0o600, key
    for bundle in ("backoffice", "enrolment", "admin", "claim"):
        assert {p.name for p in (root / bundle).iterdir()} >= {"ca.pem", "cert.pem", "key.pem"}
    # The command-signing key in the `backoffice keygen` format: PKCS#8 PEM, Ed25519.
    signing = serialization.load_pem_private_key((root / "signing/commands.pem").read_bytes(), password=None)
    assert isinstance(signing, Ed25519PrivateKey)
    claim = read_config(root / "claim/config.toml")
    assert claim.role == "claim" and claim.backoffice_public_keys == [
        (root / "signing/commands.pub").read_text().strip()
    ]
    server = (root / "broker/server.pem").read_bytes()
    from cryptography import x509

    names = x509.load_pem_x509_certificate(server).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "broker.acme.test" in names.value.get_values_for_type(x509.DNSName)
    # Never overwritten: a second init refuses, and says how to rotate.
    before = (root / "ca/ca.key").read_bytes()
    again = RUN.invoke(main, ["ca", "init", "--dir", str(root), "--broker-url", "mqtts://x:8883"])
    assert again.exit_code != 0 and "never overwritten" in again.output and "rotate" in again.output
    assert (root / "ca/ca.key").read_bytes() == before


def test_broker_config_writes_a_whitelist_acl_from_the_registry(fleet: Path, tmp_path: Path) -> None:
    _invoke(
        "device",
        "new",
        "--fleet",
        str(fleet),
        "--store",
        "s1",
        "--device",
        "k1",
        "--out",
        str(tmp_path / "b1"),
    )
    out = tmp_path / "broker"
    _invoke("broker-config", "--fleet", str(fleet), "--out", str(out), "--port", "18883")
    conf = (out / "mosquitto.conf").read_text()
    for line in (
        "require_certificate true",
        "use_identity_as_username true",
        "use_username_as_clientid true",
        f"crlfile {out.resolve()}/crl.pem",
        "allow_anonymous false",
        "listener 18883",
        "max_queued_messages 200000",
        "persistence true",
    ):
        assert line in conf, line
    acl = (out / "acl").read_text()
    block = acl.split("user s1.k1\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "topic write vitrina/v1/s1/k1/events" in block
    assert "topic read vitrina/v1/s1/k1/cmd/#" in block and "topic read vitrina/v1/s1/catalogue" in block
    assert all("s1/k1" in line or "s1/catalogue" in line for line in block)
    claim = acl.split("user vitrina-claim\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert claim == ["topic write vitrina/v1/_enrol/+/request", "topic read vitrina/v1/_enrol/+/reply"]
    _invoke("revoke", "--fleet", str(fleet), "--device", "s1.k1", "--no-notify")
    acl = (out / "acl").read_text()
    assert acl.split("user s1.k1\n", 1)[1].split("\n\n", 1)[0] == "topic deny #"


def test_tokens_are_stored_hashed_and_shown_as_a_qr_code(fleet: Path, tmp_path: Path) -> None:
    out = _invoke(
        "token",
        "new",
        "--fleet",
        str(fleet),
        "--store",
        "s1",
        "--device",
        "k1",
        "--ttl",
        "2h",
        "--qr",
        str(tmp_path / "k1.png"),
    )
    token = out.split("token", 1)[1].split()[0]
    assert f"vitrina-enrol:s1/k1/{token}" in out
    assert (tmp_path / "k1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert token.encode() not in (fleet / "registry.sqlite").read_bytes()


def test_the_csr_path_keeps_the_key_on_the_device(fleet: Path, tmp_path: Path) -> None:
    device = tmp_path / "device-identity"
    csr = tmp_path / "k1.csr"
    _invoke("device", "init", "--store", "s1", "--device", "k1", "--out", str(csr), "--identity", str(device))
    assert b"CERTIFICATE REQUEST" in csr.read_bytes()
    bundle = tmp_path / "bundle"
    _invoke("device", "sign", "--fleet", str(fleet), "--csr", str(csr), "--out", str(bundle))
    assert sorted(p.name for p in bundle.iterdir()) == ["ca.pem", "cert.pem", "config.toml"]
    _invoke("apply", str(bundle), "--identity", str(device))
    shown = json.loads(_invoke("show", "--identity", str(device), "--json"))
    assert shown["name"] == "s1.k1" and shown["store_id"] == "s1" and shown["ok"] is True
    assert "PRIVATE" not in json.dumps(shown)
    assert not (device / ".csr-key.pem").exists()
    # A CSR for a name that is not a device's is refused.
    (tmp_path / "nope.csr").write_bytes(make_csr(new_private_key(), "backoffice-x"))
    bad = RUN.invoke(
        main,
        [
            "device",
            "sign",
            "--fleet",
            str(fleet),
            "--csr",
            str(tmp_path / "nope.csr"),
            "--out",
            str(tmp_path / "b2"),
        ],
    )
    assert bad.exit_code == 1 and "does not name a device" in bad.output


def test_show_without_an_identity_says_so_and_exits_1(tmp_path: Path) -> None:
    result = RUN.invoke(main, ["show", "--identity", str(tmp_path / "none"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["problem"] == "no_identity"


DEVICE_SIDE = ("kiosk", "cloud_sync", "edge_models", "pygame", "cv2", "ai_edge_litert", "provisioning.device")


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["serve", "--help"],
        ["revoke", "--help"],
        ["broker-config", "--help"],
        ["device", "new", "--help"],
        ["ca", "init", "--help"],
    ],
)
def test_the_fleet_commands_never_import_the_device_side(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from provisioning.cli import main\n"
        f"result = CliRunner().invoke(main, {argv!r})\n"
        "assert result.exit_code == 0, result.output\n"
        f"print([m for m in sys.modules if m.split('.')[0] in {DEVICE_SIDE!r} or "
        "m.startswith('provisioning.device')])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def _walk(group: click.Group, ctx: click.Context, prefix: list[str]) -> list[list[str]]:
    found = [prefix]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            found.extend(_walk(command, ctx, [*prefix, name]))
        else:
            found.append([*prefix, name])
    return found


def test_every_provision_command_has_help_with_an_example() -> None:
    assert isinstance(main, LazyGroup)
    with click.Context(main) as ctx:
        paths = _walk(main, ctx, [])
    assert len(paths) > len(COMMANDS) + len(DEVICE_COMMANDS)
    for path in paths:
        result = RUN.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Example" in result.output, f"provision {' '.join(path)} --help has no example"


def test_crl_refresh_re_signs_before_next_update(fleet: Path) -> None:
    from cryptography import x509

    def number() -> int:
        crl = x509.load_pem_x509_crl((fleet / "crl.pem").read_bytes())
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    first = number()
    quiet = _invoke("crl", "refresh", "--fleet", str(fleet), "--if-within", "3")
    assert "nothing to do" in quiet and number() == first  # 7 days left: not due
    done = _invoke("crl", "refresh", "--fleet", str(fleet), "--if-within", "8")
    assert "CRL re-signed" in done and number() == first + 1
