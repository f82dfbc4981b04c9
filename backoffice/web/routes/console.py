"""The operator console (issue #19): a live inbox of the chats waiting for a person and open (server-sent
events: it changes without a reload), each with its transcript so far and the bot's last guesses; accept,
reply, hand back and resolve (operators and admins); the navigation's badge of chats waiting (polled by
every page an operator has open, with a sound when a new hand-off arrives)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Annotated, Any, Final

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sse_starlette.sse import EventSourceResponse

from backoffice.web.access import allow
from backoffice.web.chat_desk import ChatOutcome, display_name_of
from backoffice.web.context import services_of
from backoffice.web.i18n_chat import ChatWords, chat_words_for
from backoffice.web.render import language_of, template
from backoffice.web.routes.common import page_filters
from backoffice.web.routes.session import client_address
from backoffice.web.users import Role, User
from mqtt_bridge.contract.chat import MAX_OPERATOR_TEXT

router = APIRouter()

#: Who may read transcripts and act on chats.
OPERATORS: Final[tuple[Role, ...]] = ("operator", "admin")

#: The session key of the name the operator's screen name was last set to.
SESSION_DISPLAY_NAME: Final = "chat_display_name"


def chat_words(request: Request) -> ChatWords:
    """The chat's words in the request's language."""
    return chat_words_for(language_of(request))


def _live_filters(request: Request) -> tuple[tuple[str, ...], tuple[str, ...]]:
    filters = page_filters(request)
    return ((filters.store,) if filters.store else ()), ((filters.device,) if filters.device else ())


def inbox_context(request: Request, message: str = "") -> dict[str, Any]:
    """What the inbox's template needs."""
    services = services_of(request)
    stores, devices = _live_filters(request)
    waiting, newest = services.chat.waiting()
    return {
        "c": chat_words(request),
        "items": services.chat.inbox(stores, devices),
        "waiting": waiting,
        "newest": newest or 0,
        "message": message,
        "me": getattr(getattr(request.state, "user", None), "username", ""),
        "max_text": MAX_OPERATOR_TEXT,
        "live_query": request.url.query,
    }


@router.get("/console", name="console", response_class=HTMLResponse)
def console(request: Request, user: User = allow(*OPERATORS)) -> HTMLResponse:
    """The console: the live inbox and the name shown to shoppers."""
    name = request.session.get(SESSION_DISPLAY_NAME)
    return template(
        request,
        "console.html",
        display_name=name if isinstance(name, str) and name else user.username,
        **inbox_context(request),
    )


@router.get("/console/live", name="console_live", response_class=HTMLResponse)
def console_live(request: Request, _user: User = allow(*OPERATORS)) -> HTMLResponse:
    """The inbox alone (what the stream sends, for a client without server-sent events)."""
    return template(request, "_conversations.html", **inbox_context(request))


@router.get("/console/stream", name="console_stream")
async def console_stream(request: Request, _user: User = allow(*OPERATORS)) -> EventSourceResponse:
    """Server-sent events: ``conversations`` with the inbox's HTML whenever it changes (checked every
    ``poll_interval_s`` against the store, which the ingest may write from another process)."""
    interval = services_of(request).settings.poll_interval_s

    def render() -> str:
        response = template(request, "_conversations.html", **inbox_context(request))
        return bytes(response.body).decode("utf-8")

    async def events() -> AsyncIterator[dict[str, str]]:
        last = ""
        while not await request.is_disconnected():
            html = await anyio.to_thread.run_sync(render)
            digest = hashlib.sha256(html.encode()).hexdigest()
            if digest != last:
                last = digest
                yield {"event": "conversations", "data": html}
            await asyncio.sleep(interval)

    return EventSourceResponse(events(), ping=15)


@router.get("/console/badge.json", name="console_badge")
def console_badge(request: Request, _user: User = allow(*OPERATORS)) -> JSONResponse:
    """Chats waiting for a person now, and when the newest began to wait (epoch seconds): the nav's badge
    (every page an operator has open polls it; a newer hand-off plays the notification)."""
    waiting, newest = services_of(request).chat.waiting()
    words = chat_words(request)
    return JSONResponse({"waiting": waiting, "newest": newest, "title": words.badge_title.format(n=waiting)})


def _answer(request: Request, outcome: ChatOutcome) -> Response:
    words = chat_words(request)
    message = ""
    if outcome.problem == "not_connected":
        message = words.not_connected
    elif outcome.step is not None and not outcome.step.done:
        c = outcome.step.conversation
        state = getattr(words, f"state_{c.state}")
        who = c.accepted_by or "?"
        if outcome.step.refusal == "not_waiting" and c.state == "open":
            message = words.already_accepted.format(who=who)
        elif outcome.step.refusal == "not_yours":
            message = words.not_yours.format(who=who)
        elif outcome.step.refusal == "finished":
            message = words.already_finished.format(state=state)
        else:
            message = words.not_open.format(state=state)
    elif outcome.problem == "not_told":
        message = words.not_told.format(problem=outcome.detail)
    elif outcome.problem == "unsigned":
        message = words.unsigned
    if request.headers.get("hx-request"):
        return template(request, "_conversations.html", **inbox_context(request, message))
    return RedirectResponse("/console", status_code=303)


@router.post("/console/{conversation_id}/accept", name="console_accept")
def console_accept(
    request: Request,
    conversation_id: str,
    display_name: Annotated[str, Form()] = "",
    user: User = allow(*OPERATORS),
) -> Response:
    """Accept a chat waiting for a person: the kiosk's screen says who joined (``display_name``)."""
    name = display_name_of(display_name, user.username)
    request.session[SESSION_DISPLAY_NAME] = name
    outcome = services_of(request).chat.accept(conversation_id, user.username, name, client_address(request))
    return _answer(request, outcome)


@router.post("/console/{conversation_id}/reply", name="console_reply")
def console_reply(
    request: Request,
    conversation_id: str,
    text: Annotated[str, Form(min_length=1, max_length=MAX_OPERATOR_TEXT)],
    user: User = allow(*OPERATORS),
) -> Response:
    """Send a message to the shopper in a chat this operator accepted."""
    cleaned = text.strip()
    if not cleaned:
        return _answer(request, ChatOutcome(None))
    outcome = services_of(request).chat.reply(
        conversation_id, user.username, cleaned, client_address(request)
    )
    return _answer(request, outcome)


@router.post("/console/{conversation_id}/hand_back", name="console_hand_back")
def console_hand_back(request: Request, conversation_id: str, user: User = allow(*OPERATORS)) -> Response:
    """Hand an open chat back to the bot."""
    outcome = services_of(request).chat.hand_back(conversation_id, user.username, client_address(request))
    return _answer(request, outcome)


@router.post("/console/{conversation_id}/resolve", name="console_resolve")
def console_resolve(request: Request, conversation_id: str, user: User = allow(*OPERATORS)) -> Response:
    """Resolve a chat (waiting or open): the kiosk ends it."""
    outcome = services_of(request).chat.resolve(conversation_id, user.username, client_address(request))
    return _answer(request, outcome)
