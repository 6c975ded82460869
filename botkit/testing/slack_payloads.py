"""What Slack sends an app, built for tests: event payloads, interactive payloads, signed requests.

Every builder returns the plain ``dict`` Slack would deliver, with real-looking ids and ``ts``
values, so a test can push it through Socket Mode (:meth:`StubSlack.push
<botkit.testing.StubSlack.push>`) or post it over HTTP, signed with :func:`signed_request`.
Defaults line up with :class:`~botkit.testing.StubSlack`'s: the same team, bot and user ids.

- events (wrap them in :func:`event_callback`): :func:`app_mention`, :func:`message` (channel,
  DM, thread, bot, ``message_changed`` / ``message_deleted``), :func:`assistant_thread_started`,
  :func:`assistant_thread_context_changed`;
- interactivity: :func:`block_actions` (a button click), :func:`message_shortcut`;
- :func:`slash_command` (the form fields of a slash command), :func:`url_verification`;
- HTTP mode: :func:`sign` (``X-Slack-Signature`` v0), :func:`http_body`, :func:`signed_request`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlencode

TEAM_ID = "T0TEAM0001"
APP_ID = "A0APP00001"
BOT_USER_ID = "U0BOT00001"
BOT_ID = "B0BOT00001"
USER_ID = "U0USER0001"
CHANNEL_ID = "C0CHAN0001"
DM_CHANNEL_ID = "D0DM000001"
VERIFICATION_TOKEN = "botkit-verification-token"

_ts_lock = threading.Lock()
_last_us = 0


def new_ts() -> str:
    """A fresh Slack ``ts`` (``"seconds.micros"``), strictly greater than any given before."""
    global _last_us
    with _ts_lock:
        _last_us = max(time.time_ns() // 1000, _last_us + 1)
        micros = _last_us
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def ts_key(ts: str) -> tuple[int, int]:
    """Sort key of a ``ts`` (compares exactly, unlike ``float(ts)``)."""
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros.ljust(6, "0")[:6] or 0)


def _new_id(prefix: str, length: int = 10) -> str:
    return prefix + uuid.uuid4().hex[: length - len(prefix)].upper()


def _channel_type(channel: str) -> str:
    """The ``channel_type`` Slack puts on message events, from the channel id's first letter."""
    return {"D": "im", "G": "group"}.get(channel[:1], "channel")


def rich_text(text: str) -> list[dict[str, Any]]:
    """The ``rich_text`` block Slack attaches to a plain-text message."""
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return [{"type": "rich_text", "block_id": _new_id("", 5), "elements": [section]}]


def event_callback(
    event: dict[str, Any],
    *,
    event_id: str | None = None,
    team: str = TEAM_ID,
    api_app_id: str = APP_ID,
    bot_user_id: str = BOT_USER_ID,
    event_time: int | None = None,
) -> dict[str, Any]:
    """The Events API envelope around ``event`` (what HTTP mode posts, Socket Mode's payload)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or _new_id("Ev", 11),
        "event_time": event_time if event_time is not None else int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + uuid.uuid4().hex,
    }


def _user_message(
    text: str, user: str | None, ts: str, thread_ts: str | None, team: str
) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "message", "text": text, "ts": ts}
    if user is not None:
        message.update(user=user, team=team, client_msg_id=str(uuid.uuid4()))
    message["blocks"] = rich_text(text)
    if thread_ts is not None:
        message["thread_ts"] = thread_ts
    return message


def app_mention(
    text: str = "",
    *,
    channel: str = CHANNEL_ID,
    user: str = USER_ID,
    ts: str | None = None,
    thread_ts: str | None = None,
    team: str = TEAM_ID,
    bot_user_id: str = BOT_USER_ID,
) -> dict[str, Any]:
    """An ``app_mention`` event; ``text`` gets the ``<@bot>`` mention in front unless it has it."""
    mention = f"<@{bot_user_id}>"
    if mention not in text:
        text = f"{mention} {text}".rstrip()
    ts = ts or new_ts()
    event = _user_message(text, user, ts, thread_ts, team)
    event.update(type="app_mention", channel=channel, event_ts=ts)
    return event


def message(
    text: str = "",
    *,
    channel: str = CHANNEL_ID,
    user: str | None = None,
    ts: str | None = None,
    thread_ts: str | None = None,
    channel_type: str | None = None,
    bot_id: str | None = None,
    subtype: str | None = None,
    previous_text: str = "",
    team: str = TEAM_ID,
) -> dict[str, Any]:
    """A ``message`` event in a channel, a DM (``D...`` channel: ``channel_type`` ``im``) or a thread.

    ``bot_id``: a message posted by a bot (with :data:`BOT_ID`, by this app, so bolt ignores it;
    another bot's message has no ``user`` and subtype ``bot_message``). ``subtype``:
    ``message_changed`` (``text`` is the new text, ``previous_text`` the old, ``ts`` the edited
    message's) or ``message_deleted`` (``ts`` is the deleted message's), or any other subtype.
    """
    kind = channel_type or _channel_type(channel)
    ts = ts or new_ts()
    if user is None and bot_id is None:
        user = USER_ID
    elif user is None and bot_id == BOT_ID:
        user = BOT_USER_ID

    def inner(body: str) -> dict[str, Any]:
        found = _user_message(body, user, ts, thread_ts, team)
        if bot_id is not None:
            found.pop("client_msg_id", None)
            found.update(bot_id=bot_id, app_id=APP_ID if bot_id == BOT_ID else _new_id("A"))
            if user is None:
                found["subtype"] = "bot_message"
        return found

    if subtype in ("message_changed", "message_deleted"):
        event_ts = new_ts()
        event: dict[str, Any] = {
            "type": "message",
            "subtype": subtype,
            "hidden": True,
            "channel": channel,
            "channel_type": kind,
            "ts": event_ts,
            "event_ts": event_ts,
            "previous_message": inner(previous_text),
        }
        if subtype == "message_changed":
            event["message"] = {**inner(text), "edited": {"user": user, "ts": event_ts}}
        else:
            event["deleted_ts"] = ts
        return event
    event = inner(text)
    event.update(channel=channel, channel_type=kind, event_ts=ts)
    if subtype is not None:
        event["subtype"] = subtype
    return event


def assistant_thread_started(
    *,
    channel: str = DM_CHANNEL_ID,
    thread_ts: str | None = None,
    user: str = USER_ID,
    context_channel: str | None = None,
    team: str = TEAM_ID,
) -> dict[str, Any]:
    """A user opened the app's assistant container: a new thread in the DM ``channel``.

    ``context_channel``: the channel the user was viewing when they opened it (if any).
    """
    context: dict[str, Any] = {}
    if context_channel is not None:
        context = {"channel_id": context_channel, "team_id": team, "enterprise_id": None}
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": user,
            "context": context,
            "channel_id": channel,
            "thread_ts": thread_ts or new_ts(),
        },
        "event_ts": new_ts(),
    }


def assistant_thread_context_changed(
    *,
    channel: str = DM_CHANNEL_ID,
    thread_ts: str,
    context_channel: str,
    user: str = USER_ID,
    team: str = TEAM_ID,
) -> dict[str, Any]:
    """The user switched channels with the assistant container open."""
    event = assistant_thread_started(
        channel=channel,
        thread_ts=thread_ts,
        user=user,
        context_channel=context_channel,
        team=team,
    )
    event["type"] = "assistant_thread_context_changed"
    return event


def _actor(user: str, team: str) -> dict[str, Any]:
    name = user.lower()
    return {"id": user, "username": name, "name": name, "team_id": team}


def block_actions(
    action_id: str = "button",
    *,
    value: str = "clicked",
    block_id: str = "actions",
    text: str = "Click",
    channel: str = CHANNEL_ID,
    message_ts: str | None = None,
    message: dict[str, Any] | None = None,
    user: str = USER_ID,
    team: str = TEAM_ID,
    response_url: str = "https://hooks.slack.com/actions/T0TEAM0001/1/stub",
) -> dict[str, Any]:
    """A click on the button ``action_id`` of a message (``message``: the message clicked).

    ``response_url``: where ``respond()`` posts; use :meth:`StubSlack.response_url` in tests.
    """
    message_ts = message_ts or (message or {}).get("ts") or new_ts()
    message = message or {"type": "message", "ts": message_ts, "text": "", "user": BOT_USER_ID}
    return {
        "type": "block_actions",
        "user": _actor(user, team),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{int(time.time())}.1.{uuid.uuid4().hex}",
        "team": {"id": team, "domain": "botkit-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "general"},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": new_ts(),
            }
        ],
    }


def message_shortcut(
    callback_id: str = "shortcut",
    *,
    message_text: str = "",
    message_ts: str | None = None,
    channel: str = CHANNEL_ID,
    user: str = USER_ID,
    author: str = USER_ID,
    team: str = TEAM_ID,
    response_url: str = "https://hooks.slack.com/app/T0TEAM0001/1/stub",
) -> dict[str, Any]:
    """The message shortcut ``callback_id`` used on a message by ``author`` (``message_text``)."""
    message_ts = message_ts or new_ts()
    return {
        "type": "message_action",
        "token": VERIFICATION_TOKEN,
        "action_ts": new_ts(),
        "team": {"id": team, "domain": "botkit-test"},
        "user": _actor(user, team),
        "channel": {"id": channel, "name": "general"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": f"{int(time.time())}.1.{uuid.uuid4().hex}",
        "response_url": response_url,
        "message_ts": message_ts,
        "message": _user_message(message_text, author, message_ts, None, team),
    }


def slash_command(
    command: str = "/ask",
    text: str = "",
    *,
    channel: str = CHANNEL_ID,
    user: str = USER_ID,
    team: str = TEAM_ID,
    response_url: str = "https://hooks.slack.com/commands/T0TEAM0001/1/stub",
) -> dict[str, str]:
    """The form fields of a slash command (all strings, as Slack posts them)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team,
        "team_domain": "botkit-test",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{int(time.time())}.1.{uuid.uuid4().hex}",
    }


def url_verification(challenge: str | None = None) -> dict[str, Any]:
    """The handshake Slack posts when an Events API request URL is saved."""
    return {
        "token": VERIFICATION_TOKEN,
        "challenge": challenge or uuid.uuid4().hex,
        "type": "url_verification",
    }


# -- HTTP mode ---------------------------------------------------------------------------------
def sign(body: bytes, secret: str, timestamp: int | float | None = None) -> dict[str, str]:
    """The headers Slack signs a request with: ``v0=HMAC-SHA256(secret, "v0:{ts}:{body}")``.

    ``timestamp``: seconds since the epoch (default now); bolt refuses one over 5 minutes away.
    """
    stamp = str(int(time.time() if timestamp is None else timestamp))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest.hexdigest()}


def http_body(payload: dict[str, Any]) -> tuple[bytes, str]:
    """``payload`` encoded the way Slack posts it over HTTP, with its content type.

    Events (``event_callback``, ``url_verification``) as JSON; slash commands as form fields;
    interactive payloads (block actions, shortcuts, view submissions) as the form field ``payload``.
    """
    if payload.get("type") in ("event_callback", "url_verification", "app_rate_limited"):
        return json.dumps(payload).encode(), "application/json"
    form = "application/x-www-form-urlencoded"
    if "command" in payload:
        return urlencode(payload).encode(), form
    return urlencode({"payload": json.dumps(payload)}).encode(), form


def signed_request(
    payload: dict[str, Any],
    secret: str,
    *,
    timestamp: int | float | None = None,
    retry_num: int | None = None,
    retry_reason: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of Slack's HTTP request delivering ``payload``, signed with ``secret``.

    ``retry_num`` / ``retry_reason``: Slack's ``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason``
    headers of a redelivered event (reasons: ``http_timeout``, ``http_error``...).
    """
    body, content_type = http_body(payload)
    headers = {"Content-Type": content_type, **sign(body, secret, timestamp)}
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
    return body, headers
