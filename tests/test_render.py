"""What users and models write is shown as text on every platform, never as markup or a ping."""

from __future__ import annotations

from botkit.render import discord_embed, discord_escape, slack_blocks, slack_escape
from botkit.tasks import TaskResult


class Echo(TaskResult):
    prose = True
    said: str

    def text(self) -> str:
        return self.said


def test_slack_text_cannot_ping_or_link() -> None:
    assert slack_escape("<!channel> & <@U1> <https://x|y>") == (
        "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;https://x|y&gt;"
    )
    blocks = slack_blocks("echo", Echo(said="Réunion <!channel> à 10h"))
    shown = str(blocks)
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown


def test_discord_text_cannot_ping_or_format() -> None:
    escaped = discord_escape("@everyone look *here* <@123> <@&9> [x](https://evil)")
    assert "@everyone" not in escaped and "<@123>" not in escaped and "<@&9>" not in escaped
    assert "\\*here\\*" in escaped and "\\[x\\]" in escaped
    embed = discord_embed("echo", Echo(said="@here tous au bureau"))
    assert "@here" not in str(embed)


def test_discord_sources_are_numbered_escaped_and_within_the_description_limit() -> None:
    from botkit.core.reply import Citation
    from botkit.render import DISCORD_MAX_DESCRIPTION, discord_citations_embed

    one = Citation(1, "faq/*secret*.md", "Refunds > Timing", 3, "Refunds take @everyone 5 days.")
    embed = discord_citations_embed([one])
    assert embed["title"] == "Sources"
    assert embed["description"] == (
        "**[1]** faq/\\*secret\\*.md > Refunds > Timing (p. 3)\n> Refunds take @\u200beveryone 5 days."
    )
    many = [Citation(n, f"doc{n}.md", "x" * 300, None, "y" * 500) for n in range(1, 40)]
    described = discord_citations_embed(many)["description"]
    assert len(described) <= DISCORD_MAX_DESCRIPTION
    shown = described.count("**[")
    assert 1 < shown < 39 and described.endswith(f"… and {39 - shown} more")
