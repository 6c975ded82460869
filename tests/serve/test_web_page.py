"""The web chat page in a real headless Chromium, driven by Playwright, against ``botkit serve``.

The browser is Debian's ``chromium`` (``.ci/run`` installs it) or the one ``$BOTKIT_CHROMIUM``
names; without one these tests are skipped, saying so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from botkit.testing import StubOpenAI

from ..conftest import stub_model, unavailable, write_gpt
from .conftest import Running, running

playwright = pytest.importorskip("playwright.async_api")

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    found = (
        os.environ.get("BOTKIT_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not found:
        unavailable("no Chromium here: apt-get install chromium, or set BOTKIT_CHROMIUM")
    assert found
    return found


@pytest.fixture
async def page(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> AsyncIterator[tuple[object, Running]]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text(
        "# Refunds\n\n## Timing\n\nRefunds are issued within 5 business days.\n"
    )
    write_gpt(
        config_dir,
        "help",
        model=stub_model(openai_stub),
        description="Answers from the help center",
        starters=["How long do refunds take?"],
        knowledge={"sources": ["docs"], "min_score": 0},
    )
    write_gpt(
        config_dir,
        "mood",
        description="Tells the mood",
        task={
            "plugin": "classification",
            "options": {"labels": {"happy": "glad", "sad": "unhappy"}, "method": "embeddings"},
        },
    )
    async with (
        running(config_dir, tmp_path / "home", {"name": "web", "default_gpt": "help"}) as server,
        playwright.async_playwright() as p,
    ):
        browser = await p.chromium.launch(executable_path=chromium(), args=FLAGS)
        tab = await browser.new_page()
        await tab.goto(server.url)
        yield tab, server
        await browser.close()


async def test_pick_a_gpt_click_a_starter_see_the_streamed_answer_and_its_sources(
    page: tuple[object, Running], openai_stub: StubOpenAI
) -> None:
    tab, _ = page
    openai_stub.reply("Refunds take **5 business days** [1].")
    await tab.get_by_role("button", name="help Answers from the help center").wait_for()  # type: ignore[attr-defined]
    assert await tab.locator("#gpts button").count() == 2  # type: ignore[attr-defined]
    await tab.get_by_role("button", name="help").click()  # type: ignore[attr-defined]
    await tab.get_by_role("button", name="How long do refunds take?").click()  # type: ignore[attr-defined]
    answer = tab.locator(".message.assistant").last  # type: ignore[attr-defined]
    await answer.locator("strong", has_text="5 business days").wait_for()  # Markdown rendered
    await answer.locator(".sources li").first.wait_for()
    assert (
        await answer.locator(".sources li").first.inner_text()
        == "docs/refunds.md > Refunds > Timing"
    )
    assert await tab.locator(".message.user .body").inner_text() == "How long do refunds take?"  # type: ignore[attr-defined]


async def test_a_task_result_is_a_small_table(page: tuple[object, Running]) -> None:
    tab, _ = page
    await tab.get_by_role("button", name="mood Tells the mood").click()  # type: ignore[attr-defined]
    await tab.locator("#input").fill("I am so glad today")  # type: ignore[attr-defined]
    await tab.locator("#input").press("Enter")  # type: ignore[attr-defined]
    table = tab.locator("table.result")  # type: ignore[attr-defined]
    await table.wait_for()
    first = table.locator("tr").first
    assert await first.locator("th").inner_text() == "label"
    assert await first.locator("td").inner_text() == "happy"


async def test_stop_ends_a_long_answer_and_new_chat_starts_over(
    page: tuple[object, Running], openai_stub: StubOpenAI
) -> None:
    tab, _ = page
    openai_stub.reply(" ".join(f"word{i}" for i in range(400)))
    openai_stub.chunk_delay = 0.03
    await tab.locator("#input").fill("Tell me everything")  # type: ignore[attr-defined]
    await tab.locator("#send").click()  # type: ignore[attr-defined]
    answer = tab.locator(".message.assistant").last  # type: ignore[attr-defined]
    await answer.locator("text=word3").wait_for()
    await tab.locator("#stop").click()  # type: ignore[attr-defined]
    await answer.locator("text=[stopped]").wait_for()
    shown = await answer.inner_text()
    assert "word399" not in shown
    for _ in range(100):  # the server stopped the model's stream, too
        if openai_stub.aborted:
            break
        await asyncio.sleep(0.05)
    assert openai_stub.aborted == 1
    await tab.get_by_role("button", name="New chat").click()  # type: ignore[attr-defined]
    assert await tab.locator(".message").count() == 0  # type: ignore[attr-defined]
    await tab.get_by_role("button", name="How long do refunds take?").wait_for()  # type: ignore[attr-defined]


async def test_thumbs_down_with_a_correction_is_stored_with_the_exchange(
    page: tuple[object, Running], openai_stub: StubOpenAI, tmp_path: Path
) -> None:
    tab, _ = page
    openai_stub.reply("Refunds take 30 days.")
    tab.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept("5 business days")))  # type: ignore[attr-defined]
    await tab.get_by_role("button", name="How long do refunds take?").click()  # type: ignore[attr-defined]
    down = tab.get_by_role("button", name="Bad answer")  # type: ignore[attr-defined]
    await down.click()
    await tab.locator("#status", has_text="thanks for the feedback").wait_for()  # type: ignore[attr-defined]
    assert await down.get_attribute("aria-pressed") == "true"
    from botkit.storage.sqlite_feedback import SQLiteFeedback

    store = SQLiteFeedback(tmp_path / "home" / "feedback.sqlite3")
    (rated,) = await store.exchanges()
    assert (rated.gpt, rated.rating, rated.correction) == ("help", "down", "5 business days")
    assert rated.question == "How long do refunds take?" and rated.answer == "Refunds take 30 days."
    await store.aclose()
