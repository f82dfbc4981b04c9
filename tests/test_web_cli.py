"""``backoffice user add``: the password from a hidden prompt or an environment variable, never an argument;
refusals say why. (``backoffice serve`` runs in tests/test_browser_backoffice.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from backoffice.cli import main
from backoffice.db import open_database
from backoffice.web.users import Users

PASSWORD = "correct horse battery staple"


def _users(url: str) -> Users:
    return Users(open_database(url), lambda: datetime.now(UTC))


def test_user_add_prompts_twice_for_the_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bo.sqlite'}"
    done = CliRunner().invoke(
        main, ["user", "add", "admin", "--role", "admin", "--db", url], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert done.exit_code == 0, done.output
    assert "user admin (admin) added" in done.output and PASSWORD not in done.output
    users = _users(url)
    assert users.authenticate("admin", PASSWORD) is not None
    users.db.close()


def test_user_add_reads_the_password_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bo.sqlite'}"
    runner = CliRunner()
    args = ["user", "add", "till-1", "--role", "operator", "--db", url, "--password-env", "TILL_PASSWORD"]
    missing = runner.invoke(main, args)
    assert missing.exit_code == 1 and "TILL_PASSWORD is not set" in missing.output
    short = runner.invoke(main, args, env={"TILL_PASSWORD": "short"})
    assert short.exit_code == 1 and "at least 10" in short.output
    done = runner.invoke(main, args, env={"TILL_PASSWORD": PASSWORD})
    assert done.exit_code == 0, done.output
    again = runner.invoke(main, args, env={"TILL_PASSWORD": PASSWORD})
    assert again.exit_code == 1 and "exists already" in again.output
    users = _users(url)
    user = users.authenticate("till-1", PASSWORD)
    assert user is not None and user.role == "operator"
    users.db.close()


def test_serve_refuses_a_bad_settings_file(tmp_path: Path) -> None:
    settings = tmp_path / "bo.toml"
    settings.write_text("[web]\nescalate_after = 5\n", encoding="utf-8")
    done = CliRunner().invoke(
        main,
        [
            "serve",
            "--db",
            f"sqlite:///{tmp_path / 'bo.sqlite'}",
            "--broker",
            "mqtt://127.0.0.1:1",
            "--settings",
            str(settings),
        ],
    )
    assert done.exit_code == 1 and "web.escalate_after" in done.output
