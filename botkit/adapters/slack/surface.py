"""The Slack surface, on slack-bolt's ``AsyncApp``: Socket Mode, or HTTP events at /slack/events.

It answers @mentions (in a thread), direct messages, follow-ups in threads it is part of, Slack's
AI assistant side panel, ``/botkit`` and the "Translate with botkit" message shortcut; it stores
👍/👎 clicks. Everything here translates: Slack events become :class:`~botkit.core.message.Message`
objects for the core (which enforces the deployment's access, size and rate rules), and replies
become Slack messages (:mod:`.answer`). Events are acknowledged at once (bolt's default) and
answered in the background, tracked so a shutdown lets them finish; a retried delivery of an
event already seen (same ``event_id``) is dropped.
"""

from __future__ import annotations

import difflib
import logging
import re
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from botkit.adapters.logs import DropLines
from botkit.adapters.slack.answer import FEEDBACK_DOWN, FEEDBACK_UP, Place, SlackAnswer, refusal
from botkit.adapters.slack.text import Names, mentioned_users, plain_text
from botkit.core.conversations import Turn
from botkit.core.feedback import Rating
from botkit.core.message import Attachment, Message
from botkit.deploy.spec import SlackSurface as SlackSettings
from botkit.errors import BotkitError, StorageError
from botkit.render import markdown_to_mrkdwn
from botkit.safety.secrets import secret_env
from botkit.serve.surface import ServeContext, Surface, SurfaceError

log = logging.getLogger("botkit.slack")


#: The logger slack-bolt's app writes to. slack-bolt warns that ``SLACK_BOT_TOKEN`` goes unused
#: whenever it is set and a client is given, which is how botkit builds every app (the client
#: holds that very token).
bolt_log = logging.getLogger("botkit.slack.bolt")
bolt_log.addFilter(DropLines("`token` will be unused"))

#: The bot token's scopes botkit needs, and what each is for.
SCOPES = {
    "app_mentions:read": "to hear @mentions",
    "chat:write": "to answer",
    "im:history": "to read direct messages",
    "channels:history": "to follow threads it is in",
    "users:read": "to know who is speaking",
    "commands": "for the slash command",
}
#: Seconds a delivered event id is remembered (Slack retries within minutes).
EVENT_TTL = 3600.0
#: Message subtypes that are someone writing (others are edits, joins, deletions...).
WRITTEN = (None, "file_share", "thread_broadcast")
#: Earlier messages read when the bot joins a thread late.
THREAD_HISTORY = 50


def _placed(event: dict[str, Any]) -> bool:
    """Whether a message event says where it was written (a channel and a ``ts``)."""
    if event.get("channel") and event.get("ts"):
        return True
    log.warning("slack: a %s event without a channel or ts was ignored", event.get("type"))
    return False


def _field(payload: dict[str, Any], part: str, key: str) -> str:
    """``payload[part][key]`` as text ("" where it is missing)."""
    found = payload.get(part)
    return str(found.get(key, "")) if isinstance(found, dict) else ""


def _refused(error: BaseException) -> str:
    """What Slack said when it refused a call (``channel_not_found``, ``not_in_channel``,
    ``is_archived``...); "" for any other error."""
    from slack_sdk.errors import SlackApiError

    if not isinstance(error, SlackApiError):
        return ""
    return (
        f"Slack refused {error.response.api_url.rsplit('/', 1)[-1]} ({error.response.get('error')})"
    )


def _env(name: str, what: str, where: str) -> str:
    value = secret_env(name)
    if not value:
        raise SurfaceError(f"{name} is not set: export the {what} ({where})")
    return value


class SlackSurface(Surface):
    name: ClassVar[str] = "slack"
    settings: SlackSettings
    answer: SlackAnswer  # made at start, with the connected client
    names: Names

    def __init__(self, settings: Any, context: ServeContext) -> None:
        super().__init__(settings, context)
        self.app: Any = None
        self._handler: Any = None  # Socket Mode
        self._http: Any = None  # HTTP mode
        self._verifier: Any = None  # HTTP mode: checks Slack's signature
        self.stopping = False
        self.bot_user_id = ""
        self.bot_id = ""

    # -- lifecycle -----------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return (
            [Route("/slack/events", self._events, methods=["POST"])]
            if self.settings.mode == "http"
            else []
        )

    async def start(self) -> None:
        from slack_bolt.async_app import AsyncApp
        from slack_sdk.errors import SlackApiError
        from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
        from slack_sdk.web.async_client import AsyncWebClient

        s = self.settings
        token = _env(
            s.bot_token_env, "bot token (xoxb-...)", "your Slack app > OAuth & Permissions"
        )
        if s.mode == "socket":
            app_token = _env(
                s.app_token_env,
                "app-level token (xapp-...)",
                "your Slack app > Basic Information > App-Level Tokens, with connections:write; "
                "and turn on Socket Mode",
            )
            secret = None
        else:
            secret = _env(
                s.signing_secret_env, "signing secret", "your Slack app > Basic Information"
            )
        client = AsyncWebClient(token=token, base_url=s.api_url)
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
        try:
            auth = await client.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error")
            raise SurfaceError(
                f"Slack refused {s.bot_token_env} ({error}): use the Bot User OAuth Token (xoxb-...) "
                "of an app installed in the workspace"
            ) from exc
        except Exception as exc:
            raise SurfaceError(f"cannot reach Slack at {s.api_url}: {exc}") from exc
        granted = set((auth.headers.get("x-oauth-scopes") or "").replace(" ", "").split(","))
        missing = [f"{scope} ({why})" for scope, why in SCOPES.items() if scope not in granted]
        if missing and granted != {""}:
            raise SurfaceError(
                f"the Slack app lacks scopes: {', '.join(missing)}; add them under OAuth & "
                "Permissions > Bot Token Scopes and reinstall the app (`botkit slack manifest` "
                "prints a manifest with all of them)"
            )
        self.bot_user_id, self.bot_id = str(auth["user_id"]), str(auth.get("bot_id") or "")
        self.names = Names(self._user_name)
        self.answer = SlackAnswer(client, self.context.bot, {})
        self.app = AsyncApp(
            client=client,
            signing_secret=secret,
            request_verification_enabled=s.mode == "http",
            ignoring_self_events_enabled=True,
            logger=bolt_log,
        )
        self._listen(self.app)
        if s.mode == "socket":
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._handler = AsyncSocketModeHandler(self.app, app_token)
            try:
                await self._handler.connect_async()
            except Exception as exc:
                raise SurfaceError(
                    f"Slack refused the Socket Mode connection with {s.app_token_env}: {exc} "
                    "(is Socket Mode on, and does the token have connections:write?)"
                ) from exc
        else:
            from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
            from slack_sdk.signature import SignatureVerifier

            self._http = AsyncSlackRequestHandler(self.app)
            self._verifier = SignatureVerifier(str(secret))
        log.info("slack: connected as <@%s> (%s mode)", self.bot_user_id, s.mode)

    async def stop(self) -> None:
        self.stopping = True
        if self._handler is not None:
            await self._handler.close_async()

    async def _events(self, request: Request) -> Response:
        if self._http is None or self.stopping:
            return JSONResponse({"error": "the Slack surface is not running"}, status_code=503)
        # slack-bolt reads the body before it checks the signature: check it first, so that a
        # request not from Slack is refused whatever it holds
        body = await request.body()
        stamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not self._signed(body, stamp, signature):
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            response: Response = await self._http.handle(request)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            log.warning(
                "slack: a signed request could not be read: %s: %s", type(exc).__name__, exc
            )
            return JSONResponse({"error": "the request could not be read"}, status_code=400)
        return response

    def _signed(self, body: bytes, stamp: str, signature: str) -> bool:
        """Whether Slack signed ``body`` (with a timestamp within 5 minutes)."""
        if not stamp.isdigit():
            return False
        try:
            return bool(self._verifier.is_valid(body, stamp, signature))
        except UnicodeDecodeError:  # what Slack signs is UTF-8
            return False

    def _listen(self, app: Any) -> None:
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.event("assistant_thread_started")(self._on_assistant_thread)
        app.event("assistant_thread_context_changed")(self._ignore)
        app.command(self.settings.slash_command)(self._on_command)
        app.shortcut("botkit_translate")(self._on_shortcut)
        app.action(re.compile(f"^({FEEDBACK_UP}|{FEEDBACK_DOWN})$"))(self._on_feedback)
        app.error(self._on_error)

    # -- events --------------------------------------------------------------------------------
    async def _first(self, body: dict[str, Any]) -> bool:
        """Whether this delivery should be handled: not while stopping, not a retry of one seen."""
        if self.stopping:
            return False
        event_id = body.get("event_id")
        storage = self.context.bot.storage
        if not event_id or storage is None:
            return True
        try:
            return await storage.events.first_time(f"slack:{event_id}", EVENT_TTL)
        except StorageError as exc:  # better a rare double answer than none: the reply says why
            log.warning("slack: could not check event %s for a retry: %s", event_id, exc)
            return True

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if not _placed(event) or not await self._first(body):
            return
        thread = str(event.get("thread_ts") or event["ts"])
        place = Place(
            str(event["channel"]), thread, str(event.get("user", "")), str(body.get("team_id", ""))
        )
        text = await self._plain(str(event.get("text", "")))
        if not text and not event.get("files"):
            await self.answer.tell(
                place, "Ask me something after the mention, like `@bot what is new?`"
            )
            return
        message = await self._message(event, body, text, thread, is_dm=False)
        if event.get("thread_ts"):
            await self._catch_up(message, thread, str(event["ts"]))
        self._reply(message, place)

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        user = str(event.get("user", ""))
        if (
            event.get("bot_id")
            or event.get("subtype") not in WRITTEN
            or not user
            or user == self.bot_user_id
        ):
            return  # bots, itself, edits and deletions
        if not _placed(event):
            return
        text_raw = str(event.get("text", ""))
        is_dm = event.get("channel_type") == "im"
        thread_ts = str(event.get("thread_ts") or "")
        if not is_dm and (not thread_ts or f"<@{self.bot_user_id}>" in text_raw):
            return  # a channel message: answered when it mentions the bot (app_mention)
        if not await self._first(body):
            return
        place = Place(str(event["channel"]), thread_ts, user, str(body.get("team_id", "")))
        text = await self._plain(text_raw)
        message = await self._message(event, body, text, thread_ts, is_dm)
        if not is_dm and not await self._follows(message):
            return  # a thread the bot is not part of
        if not text and not message.content():
            note = "I read text: write your question in words (files are left out)."
            await self.answer.tell(place, note)
            return
        if is_dm and thread_ts and self.settings.assistant:
            await self._status(place, "is thinking…")
        self._reply(message, place)

    async def _on_assistant_thread(
        self, event: dict[str, Any], body: dict[str, Any], client: Any
    ) -> None:
        """The AI assistant side panel opened: show the GPT's starters as suggested prompts."""
        if not self.settings.assistant or not await self._first(body):
            return
        thread = event.get("assistant_thread")
        if not isinstance(thread, dict):
            return
        channel, ts = thread.get("channel_id"), thread.get("thread_ts")
        gpt = self.context.policy.gpt_for("slack", str(channel))
        spec = self.context.bot.gpt(gpt).spec
        try:
            await client.chat_postMessage(
                channel=channel,
                thread_ts=ts,
                text=markdown_to_mrkdwn(spec.description or f"{gpt} here: ask me anything."),
            )
            if spec.starters:
                prompts = [{"title": s[:75], "message": s} for s in spec.starters[:4]]
                await client.assistant_threads_setSuggestedPrompts(
                    channel_id=channel, thread_ts=ts, prompts=prompts
                )
        except Exception as exc:  # a workspace without the assistant features: nothing more to do
            log.info("slack: assistant thread set-up skipped: %s", exc)

    async def _ignore(self) -> None:
        """Events botkit does not act on are acknowledged and dropped."""

    async def _on_command(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack()  # within 3 s, always; the answer follows
        self.context.inflight.start(self._command(command, respond), name="slack-command")

    async def _command(self, command: dict[str, Any], respond: Any) -> None:
        text = await self._plain(str(command.get("text", "")))
        channel, user = str(command.get("channel_id", "")), str(command.get("user_id", ""))
        team = str(command.get("team_id", ""))
        word, _, rest = text.partition(" ")
        name = self.settings.slash_command
        bot = self.context.bot
        if word in ("", "help"):
            tasks = ", ".join(f"`{name} {usage}`" for usage, _ in bot.registry.command_usage())
            await respond(
                text=f"`{name} <gpt> <text>` asks a GPT; `{name} gpts` lists them; {tasks}.",
                response_type="ephemeral",
            )
            return
        who = Message(
            "",
            "",
            "slack",
            user,
            await self.names.of(user),
            team,
            channel,
            is_dm=channel.startswith("D"),
        )
        if word == "gpts":
            lines = [
                f"*{n}* {bot.gpt(n).spec.description}" for n in self.context.policy.usable(who)
            ]
            await respond(
                text="\n".join(lines) or "No GPT is open to you here.", response_type="ephemeral"
            )
            return
        gpt, command_word, said = self.context.policy.gpt_for("slack", channel), "", rest
        if word in bot.catalog.gpts:
            gpt = word
        elif word.lower() in bot.registry.commands:
            command_word = word.lower()
        else:
            close = difflib.get_close_matches(word, list(bot.catalog.gpts), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            await respond(
                text=f"no GPT or command named {word!r}{hint}: `{name} gpts` lists the GPTs, "
                f"`{name} help` the commands",
                response_type="ephemeral",
            )
            return
        message = Message(
            said, gpt, "slack", who.user_id, who.user_name, team, channel, thread=f"{name}:{user}",
            is_dm=who.is_dm, command=command_word,
        )  # fmt: skip
        try:
            reply = await bot.respond(message).collect()
        except BotkitError as exc:
            await respond(text=refusal(exc), response_type="ephemeral")
            return
        await respond(text=markdown_to_mrkdwn(reply.text)[:3000], response_type="in_channel")

    async def _on_shortcut(self, ack: Any, shortcut: dict[str, Any], respond: Any) -> None:
        """ "Translate with botkit" on a message: the translation, for whoever asked."""
        await ack()
        original = await self._plain(_field(shortcut, "message", "text"))
        user, channel = _field(shortcut, "user", "id"), _field(shortcut, "channel", "id")
        message = Message(
            f"{self.settings.translate_to} {original}",
            self.context.policy.gpt_for("slack", channel),
            "slack",
            user,
            await self.names.of(user),
            _field(shortcut, "team", "id"),
            channel,
            thread=f"shortcut:{user}",
            command="translate",
        )

        async def translate() -> None:
            try:
                reply = await self.context.bot.respond(message).collect()
                text = markdown_to_mrkdwn(reply.text)
            except BotkitError as exc:
                text = refusal(exc)
            await respond(text=text[:3000], response_type="ephemeral", replace_original=False)

        self.context.inflight.start(translate(), name="slack-shortcut")

    async def _on_feedback(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        await ack()
        rating: Rating = "up" if action.get("action_id") == FEEDBACK_UP else "down"
        user = _field(body, "user", "id")
        stored = await self.context.rate(str(action.get("value", "")), rating, user)
        note = "Thanks for the feedback." if stored else "That answer can no longer be rated."
        await respond(text=note, response_type="ephemeral", replace_original=False)

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        refused = _refused(error)
        if refused:  # a channel gone, the bot removed from it...: nothing to answer there
            log.warning("slack: an event could not be answered: %s", refused)
            return
        log.error("slack: an event failed: %s", error, exc_info=error)

    # -- translating ---------------------------------------------------------------------------
    def _reply(self, message: Message, place: Place) -> None:
        self.context.inflight.start(
            self._answer(message, place), name=f"slack-{message.request_id}"
        )

    async def _answer(self, message: Message, place: Place) -> None:
        try:
            await self.answer.reply(message, place)
        except Exception as exc:
            refused = _refused(exc)
            if not refused:
                raise
            log.warning("slack: could not answer %s: %s", message.request_id, refused)

    async def _plain(self, text: str) -> str:
        names = await self.names.all(mentioned_users(text))
        return plain_text(text, names, self.bot_user_id)

    async def _message(
        self, event: dict[str, Any], body: dict[str, Any], text: str, thread: str, is_dm: bool
    ) -> Message:
        user, channel = str(event.get("user", "")), str(event["channel"])
        listed = event.get("files")
        files = tuple(
            Attachment(
                str(f.get("name", "file")),
                str(f.get("mimetype", "")),
                f["size"] if isinstance(f.get("size"), int) else 0,
            )
            for f in (listed if isinstance(listed, list) else [])
            if isinstance(f, dict)
        )
        return Message(
            text,
            self.context.policy.gpt_for("slack", channel),
            "slack",
            user,
            await self.names.of(user),
            str(body.get("team_id", "")),
            channel,
            thread,
            is_dm=is_dm,
            shared=self.context.policy.shared(is_dm),
            message_id=str(event.get("client_msg_id") or event.get("ts") or ""),
            attachments=files,
        )

    async def _catch_up(self, message: Message, thread_ts: str, current_ts: str) -> None:
        """Joining a thread late: its earlier messages become the conversation's history."""
        bot = self.context.bot
        if await bot.history(message.conversation):
            return
        try:
            found = await self.answer.client.conversations_replies(
                channel=message.channel, ts=thread_ts, limit=THREAD_HISTORY
            )
        except Exception as exc:
            log.info("slack: could not read thread %s: %s", thread_ts, exc)
            return
        turns = []
        for earlier in found.get("messages") or []:
            if str(earlier.get("ts")) == current_ts:
                continue
            text = await self._plain(str(earlier.get("text", "")))
            author = str(earlier.get("user", ""))
            if earlier.get("bot_id") or author == self.bot_user_id:
                if author == self.bot_user_id or earlier.get("bot_id") == self.bot_id:
                    turns.append(Turn("assistant", text))
                continue
            if text:
                turns.append(Turn("user", text, author, await self.names.of(author)))
        await bot.remember(message.conversation, turns)

    async def _follows(self, message: Message) -> bool:
        """Whether to answer a thread message without a mention: the bot has a conversation there."""
        if not self.settings.follow_threads:
            return False
        try:
            return bool(await self.context.bot.history(message.conversation))
        except StorageError:
            return True  # cannot tell: answering says what is wrong, which beats silence

    async def _status(self, place: Place, status: str) -> None:
        try:
            await self.answer.client.assistant_threads_setStatus(
                channel_id=place.channel, thread_ts=place.thread_ts, status=status
            )
        except Exception:  # not an assistant thread, or no assistant:write: nothing to show
            return

    async def _user_name(self, user_id: str) -> str:
        found = await self.answer.client.users_info(user=user_id)
        user = found.get("user") or {}
        profile = user.get("profile") or {}
        return str(
            profile.get("display_name") or profile.get("real_name") or user.get("name") or user_id
        )
