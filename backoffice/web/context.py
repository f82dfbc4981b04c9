"""The application's collaborators, built once by :func:`backoffice.web.app.create_app` and shared by every
request (``request.app.state.services``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import Request

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

    from backoffice.db import Database
    from backoffice.settings import RetentionSettings
    from backoffice.web.audit import AuditLog
    from backoffice.web.calls import StaffDesk
    from backoffice.web.chat_desk import ChatDesk
    from backoffice.web.link import KioskLink
    from backoffice.web.metrics import WebMetrics
    from backoffice.web.reports import Reports
    from backoffice.web.settings import WebSettings
    from backoffice.web.users import SignInLimits, Users


@dataclass
class Services:
    """Everything a route may use."""

    settings: WebSettings
    db: Database
    reports: Reports
    link: KioskLink
    clock: Callable[[], datetime]
    users: Users
    audit: AuditLog
    limits: SignInLimits
    desk: StaffDesk
    metrics: WebMetrics
    templates: Jinja2Templates
    retention: RetentionSettings
    #: The chat's operator console (issue #19).
    chat: ChatDesk


def services_of(request: Request) -> Services:
    """The application's services, from the request."""
    services = request.app.state.services
    assert isinstance(services, Services)
    return services
