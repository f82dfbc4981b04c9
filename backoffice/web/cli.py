"""``backoffice serve`` (the web application on uvicorn) and ``backoffice user add`` (an account). Registered
on the ``backoffice`` group by backoffice/cli.py; the web stack is imported only when a command runs."""

from __future__ import annotations

import logging
import os
import threading
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backoffice.broker_access import BrokerAccess, broker_access, broker_options
from backoffice.campaigns.settings import CampaignSettings
from backoffice.db import Database
from backoffice.settings import AlertSettings, IngestSettings, ReportSettings, RetentionSettings
from backoffice.web.settings import WebSettings
from mqtt_bridge.settings import BrokerSettings

if TYPE_CHECKING:  # the web stack is imported when a command runs
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from backoffice.campaigns.desk import CampaignDesk
    from backoffice.web.link import MqttKioskLink

logger = logging.getLogger(__name__)

#: The environment variable ``user add`` reads a password from instead of prompting (never an argument).
USER_ADD_ENV = "VITRINA_USER_PASSWORD"


class ServeSettings(BaseModel):
    """``backoffice serve --settings FILE``: a TOML file with these sections, every key optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    web: WebSettings = Field(default_factory=WebSettings, description="[web]: backoffice.web.settings.")
    reports: ReportSettings = Field(default_factory=ReportSettings, description="[reports]: k_anonymity.")
    alerts: AlertSettings = Field(default_factory=AlertSettings, description="[alerts]: fleet alert rules.")
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings, description="[retention]: how long raw data is kept."
    )
    campaigns: CampaignSettings = Field(
        default_factory=CampaignSettings,
        description="[campaigns]: approval, release and picture limits, the till's redemption master key "
        "(backoffice.campaigns.settings, docs/campaigns.md).",
    )


def load_serve_settings(path: Path | None) -> ServeSettings:
    """The settings file, or the defaults; a click error naming the key that is wrong."""
    if path is None:
        return ServeSettings()
    try:
        return ServeSettings.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise click.ClickException(f"{path}: {where}: {first['msg']}") from exc


@click.command("serve")
@click.option(
    "--db", "db_url", required=True, help="Store: sqlite:///path/backoffice.sqlite or postgresql://..."
)
@broker_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on."
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Ed25519 key (PEM, `backoffice keygen`) that signs the staff_ack a kiosk receives when a call is "
    "acknowledged; kiosks refuse unsigned commands. Default: the --identity bundle's commands.pem, if any.",
)
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML file with [web], [reports], [alerts], [retention] and [campaigns] sections "
    "(docs/backoffice.md, docs/campaigns.md).",
)
@click.option(
    "--ingest/--no-ingest",
    "run_ingest",
    default=False,
    show_default=True,
    help="Also run the ingest in this process (a single-machine install); otherwise run `backoffice ingest`.",
)
@click.option("--prefix", default="vitrina/v1", show_default=True, help="Topic prefix.")
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning"])
)
def serve(
    *,
    db_url: str,
    broker: str,
    identity_dir: Path | None,
    ca_file: Path | None,
    password_env: str | None,
    host: str,
    port: int,
    key_path: Path | None,
    settings_path: Path | None,
    run_ingest: bool,
    prefix: str,
    log_level: str,
) -> None:
    """Run the back office's web application: fleet, audience, offers, feedback, staff calls, audit, users.

    It reads what `backoffice ingest` stores (or, with --ingest, runs the ingest itself), keeps its own
    plain MQTT subscription to the fleet's retained status and birth, sends signed staff_ack commands, runs
    the hourly retention job and escalates unacknowledged staff calls. Make the first account with
    `backoffice user add`. Stops on Ctrl-C or SIGTERM.

    \b
    Example:
      backoffice user add admin --role admin --db sqlite:///var/backoffice.sqlite
      backoffice serve --db sqlite:///var/backoffice.sqlite --broker mqtt://127.0.0.1:1883 \\
        --key backoffice-commands.pem --ingest
      # then open http://127.0.0.1:8000/
      # on the fleet's broker: the web app's own bundle (provision backoffice new --name web --signing-key)
      backoffice serve --db postgresql://vitrina@db/vitrina --broker mqtts://broker:8883 \\
        --identity /etc/vitrina/identity/web
    """
    import uvicorn

    from backoffice.db import DatabaseError, open_database
    from backoffice.errors import BackofficeError
    from backoffice.web.app import create_app, migrate_store, settle_heap
    from backoffice.web.errors import WebError
    from backoffice.web.link import load_signing_key
    from backoffice.web.reports import Reports
    from backoffice.web.webhook import WebhookPoster

    config = load_serve_settings(settings_path)
    web = config.web
    access = broker_access(
        broker, identity_dir=identity_dir, ca_file=ca_file, password_env=password_env, prefix=prefix
    )
    if run_ingest and access.identity is not None:
        raise click.UsageError(
            "--ingest with --identity would put two connections on one certificate, and the fleet's broker "
            "lets only one stay connected: run `backoffice ingest --identity DIR` beside it with its own "
            "bundle (provision backoffice new --name ingest-1)"
        )
    key_path = access.signing_key(key_path or web.command_key)
    if key_path is not None:
        web = web.model_copy(update={"command_key": key_path})
    broker_settings = access.settings
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        db = open_database(db_url)
        migrate_store(db)
        key = load_signing_key(web.command_key) if web.command_key is not None else None
    except (DatabaseError, WebError) as exc:
        raise click.ClickException(str(exc)) from exc
    if key is None:
        click.echo(
            "warning: no --key: staff calls are acknowledged here, but kiosks refuse the unsigned staff_ack",
            err=True,
        )

    def clock() -> datetime:
        return datetime.now(UTC)

    try:
        link, campaign_desk = _links(db, config=config, web=web, access=access, clock=clock, key=key)
    except BackofficeError as exc:
        raise click.ClickException(str(exc)) from exc
    webhook = (
        WebhookPoster(
            str(web.webhook_url),
            timeout_s=web.webhook_timeout_s,
            attempts=web.webhook_attempts,
            backoff_s=web.webhook_backoff_s,
        )
        if web.webhook_url is not None
        else None
    )
    app = create_app(
        web,
        db,
        Reports(db, config.reports, config.alerts),
        link,
        clock,
        retention_settings=config.retention,
        webhook=webhook,
        base_url=f"http://{host}:{port}",
        campaign_desk=campaign_desk,
    )
    settle_heap()
    stop_ingest = threading.Event()
    ingest_thread = _start_ingest(db, broker_settings, db_url, stop_ingest) if run_ingest else None
    click.echo(
        f"back office on http://{host}:{port}/ (store {db!r}, broker {broker}); Ctrl-C to stop", err=True
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False)
    finally:
        stop_ingest.set()
        if ingest_thread is not None:
            ingest_thread.join(30)
        db.close()


def _links(
    db: Database,
    *,
    config: ServeSettings,
    web: WebSettings,
    access: BrokerAccess,
    clock: Callable[[], datetime],
    key: Ed25519PrivateKey | None,
) -> tuple[MqttKioskLink, CampaignDesk]:
    """The live link and the campaigns' desk (#18: its own MQTT link, the same signing key). On the fleet's
    broker (``--identity``) the desk shares the live link's connection: there a certificate keeps one."""
    from backoffice.campaigns.desk import served_desk
    from backoffice.campaigns.link import MqttCampaignLink
    from backoffice.web.link import MqttKioskLink

    link = MqttKioskLink(
        access.settings, client_id=web.live_client_id, clock=clock, key=key, command_ttl_s=web.command_ttl_s
    )
    shared = link.transport if access.identity is not None else None
    desk = served_desk(
        db,
        broker=access.settings,
        settings=config.campaigns,
        clock=clock,
        key=key,
        zone=web.zone,
        transport=shared,
    )
    if shared is not None and isinstance(desk.link, MqttCampaignLink):
        link.share(desk.link.subscriptions, desk.link.handle)
    return link, desk


def _start_ingest(
    db: Database, broker_settings: BrokerSettings, db_url: str, stop: threading.Event
) -> threading.Thread:
    """The ingest in a thread of this process, on the same store handle."""
    from backoffice.ingest import BackofficeStore, Ingest

    consumer = Ingest(broker_settings, IngestSettings(db_url=db_url), BackofficeStore(db))
    consumer.start()
    thread = threading.Thread(target=consumer.run, args=(stop,), name="ingest", daemon=True)
    thread.start()
    return thread


@click.group("user")
def user() -> None:
    """The back office's accounts.

    \b
    Example:
      backoffice user add admin --role admin --db sqlite:///var/backoffice.sqlite
    """


@user.command("add")
@click.argument("username")
@click.option(
    "--role", required=True, type=click.Choice(["viewer", "operator", "marketer", "admin"]), help="Role."
)
@click.option(
    "--db", "db_url", required=True, help="Store: sqlite:///path/backoffice.sqlite or postgresql://..."
)
@click.option(
    "--password-env",
    default=None,
    help=f"Read the password from this environment variable (e.g. {USER_ADD_ENV}) instead of a prompt; "
    "a password is never taken as an argument.",
)
def user_add(username: str, role: str, db_url: str, password_env: str | None) -> None:
    """Make an account (the first one: --role admin). The password is asked for twice, hidden.

    Roles: viewer reads every page; operator also answers staff calls and redeems codes; marketer also runs
    campaigns; admin does everything (users, approvals).

    \b
    Example:
      backoffice user add admin --role admin --db sqlite:///var/backoffice.sqlite
      VITRINA_USER_PASSWORD='...' backoffice user add till-1 --role operator \\
        --db postgresql://vitrina@db/vitrina --password-env VITRINA_USER_PASSWORD
    """
    from backoffice.db import DatabaseError, open_database
    from backoffice.web.app import migrate_store
    from backoffice.web.users import ROLES, UserError, Users, check_password

    if password_env is not None:
        password = os.environ.get(password_env)
        if password is None:
            raise click.ClickException(f"environment variable {password_env} is not set; export it first")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password(password)
        db = open_database(db_url)
    except (UserError, DatabaseError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        migrate_store(db)
        chosen = next(r for r in ROLES if r == role)
        Users(db, lambda: datetime.now(UTC)).add(username, password, chosen)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
    click.echo(f"user {username} ({role}) added to {db_url.rsplit('@', maxsplit=1)[-1]}")
