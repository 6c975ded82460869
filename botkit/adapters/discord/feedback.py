"""👍/👎 under each answer: persistent buttons whose custom ids carry the answer's request id.

The buttons are discord.py dynamic items: a click is recognised by its custom id alone
(``botkit:rate:up:<request id>``), after a restart too, without remembering any message. A click
stores the rating through the server's feedback store (``ServeContext.rate``), acknowledges the
click by marking the chosen button, and says so privately when the answer is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import discord

#: What a click stores: (request id, "up"|"down", user id) -> whether the answer was known.
Rate = Callable[[str, Any, str], Awaitable[bool]]
CUSTOM_ID = re.compile(r"botkit:rate:(?P<rating>up|down):(?P<request>[\w-]{1,64})")
_LOOK = {
    "up": ("\N{THUMBS UP SIGN}", discord.ButtonStyle.success),
    "down": ("\N{THUMBS DOWN SIGN}", discord.ButtonStyle.danger),
}


@dataclass(frozen=True)
class RatingButtons:
    """The 👍/👎 buttons of one server: ``item`` goes to ``client.add_dynamic_items``."""

    item: type[discord.ui.DynamicItem[Any]]
    make: Callable[[str, str, str | None], discord.ui.Item[Any]]

    def view(self, request_id: str, chosen: str | None = None) -> discord.ui.View:
        """The row under an answer (``chosen``: the rating given, shown in colour)."""
        view = discord.ui.View(timeout=None)
        for rating in ("up", "down"):
            view.add_item(self.make(rating, request_id, chosen))
        return view


def rating_buttons(rate: Rate, log: Any) -> RatingButtons:
    """The buttons for one server; ``rate`` stores a click."""

    class RateButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID):
        def __init__(self, rating: str, request_id: str, chosen: str | None = None) -> None:
            emoji, style = _LOOK[rating]
            super().__init__(
                discord.ui.Button(
                    emoji=emoji,
                    style=style if chosen == rating else discord.ButtonStyle.secondary,
                    custom_id=f"botkit:rate:{rating}:{request_id}",
                )
            )
            self.rating = rating
            self.request_id = request_id

        @classmethod
        async def from_custom_id(
            cls, interaction: discord.Interaction[Any], item: Any, match: re.Match[str], /
        ) -> RateButton:
            return cls(match["rating"], match["request"])

        async def callback(self, interaction: discord.Interaction[Any]) -> None:
            user = str(interaction.user.id)
            try:
                known = await rate(self.request_id, self.rating, user)
            except Exception:
                log.exception("storing the rating of %s failed", self.request_id)
                known = False
            if not known:
                await interaction.response.send_message(
                    "This answer can no longer be rated.", ephemeral=True
                )
                return
            await interaction.response.edit_message(view=buttons.view(self.request_id, self.rating))

    buttons = RatingButtons(RateButton, RateButton)
    return buttons
