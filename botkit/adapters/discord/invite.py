"""The bot's invitation: the OAuth2 URL with exactly the permissions the Discord surface uses.

Each permission is here because the surface makes a call that needs it; nothing else is asked
(slash commands and button clicks are answered through interaction webhooks, which need none):

- View Channels: receive the messages of a channel at all.
- Send Messages: answer in a channel (and say why it cannot answer).
- Send Messages in Threads: answer in threads, the bot's own included.
- Create Public Threads: open a thread per conversation (``open_threads``).
- Embed Links: sources and task results are embeds; without it Discord drops them.
- Read Message History: an answer is a reply to the message it answers, which Discord allows
  only with this permission.

The bot attaches no files and adds no reactions (👍/👎 are buttons), so it does not ask for
Attach Files or Add Reactions. Scopes: ``bot`` (join the server) and ``applications.commands``
(its slash commands).
"""

from __future__ import annotations

from urllib.parse import urlencode

#: Permission bits (https://discord.com/developers/docs/topics/permissions), name -> (bit, why).
PERMISSIONS: dict[str, tuple[int, str]] = {
    "View Channels": (1 << 10, "see the channels it answers in"),
    "Send Messages": (1 << 11, "answer in channels"),
    "Embed Links": (1 << 14, "show sources and task results as embeds"),
    "Read Message History": (1 << 16, "reply to the message it answers"),
    "Create Public Threads": (1 << 35, "open a thread per conversation"),
    "Send Messages in Threads": (1 << 38, "answer in threads"),
}
#: What the invitation asks for: 309237730304.
BOT_PERMISSIONS = sum(bit for bit, _ in PERMISSIONS.values())
SCOPES = ("bot", "applications.commands")
AUTHORIZE_URL = "https://discord.com/oauth2/authorize"


def invite_url(application_id: int, permissions: int = BOT_PERMISSIONS) -> str:
    """The URL a server admin opens to add the bot, with its slash commands."""
    query = {"client_id": str(application_id), "scope": " ".join(SCOPES)}
    query["permissions"] = str(permissions)
    return f"{AUTHORIZE_URL}?{urlencode(query)}"


async def fetch_application_id(token: str) -> int:
    """The application id of the bot ``token`` logs in as (``GET /oauth2/applications/@me``)."""
    import discord

    from botkit.errors import BotkitError

    client = discord.Client(intents=discord.Intents.none())
    try:
        await client.login(token)
        if client.application_id is None:
            raise BotkitError("Discord did not say which application this bot token belongs to")
        return client.application_id
    except discord.LoginFailure:
        raise BotkitError(
            "Discord refused the bot token: copy a fresh one from the Developer Portal "
            "(your application -> Bot -> Reset Token)"
        ) from None
    except (discord.HTTPException, OSError) as exc:
        raise BotkitError(f"cannot ask Discord for the application id: {exc}") from None
    finally:
        await client.close()
