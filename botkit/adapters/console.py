"""The console adapter: chat with a GPT in the terminal, or pipe messages through it.

Interactive (stdin is a terminal): tokens stream as they come, ``/help`` lists the commands, Ctrl-C
stops the current answer without leaving. Piped: one message a line, one reply each, for scripts.
"""

from __future__ import annotations

import asyncio
import getpass
import signal
import sys
import traceback
import uuid
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from botkit.core.bot import Bot
from botkit.core.conversations import ConversationKey
from botkit.core.message import Message
from botkit.errors import BotkitError, ConfigError, GPTNotFound, InputError
from botkit.models.local import rough_translation_note
from botkit.tasks import TaskResult
from botkit.terminal import error

SURFACE = "console"
HELP = """\
/help          this list
/reset         forget this conversation and start again
/gpts          list the GPTs you can talk to
/switch NAME   talk to another GPT
/exit          leave (Ctrl-D works too)
Ctrl-C stops the current answer without leaving."""
#: Errors about one line of input: reported, and the next line is still answered.
LINE_ERRORS = (InputError, GPTNotFound, ConfigError)


class ConsoleChat:
    """One console conversation: turns each input line into a core message or a console command."""

    def __init__(self, bot: Bot, gpt: str, out: TextIO, err: Console, interactive: bool) -> None:
        self.bot = bot
        self.gpt = gpt
        self.out = out
        self.err = err
        self.interactive = interactive
        self.user = _user_name()
        self.thread = uuid.uuid4().hex

    async def start(self, resume: bool) -> None:
        await self.prepare(self.gpt)  # fail now on a missing key or model file
        if resume:
            previous = await self.bot.latest_thread(SURFACE, self.user, self.gpt)
            if previous:
                self.thread = previous
                turns = len(await self.bot.history(self._key())) // 2
                self.note(f"resuming your conversation with {self.gpt} ({turns} exchanges)")
            else:
                self.note(f"no earlier conversation with {self.gpt}: starting a new one")
        if self.interactive:
            self.banner()

    async def prepare(self, gpt: str) -> None:
        """Get the GPT ready (its model loaded, its knowledge indexed) before the first line."""
        spec = self.bot.gpt(gpt).spec
        if spec.knowledge is not None and spec.knowledge.sources and self.interactive:
            self.note(f"preparing {gpt}: indexing its knowledge if it changed...")
        await self.bot.runtime(gpt)

    def banner(self) -> None:
        spec = self.bot.gpt(self.gpt).spec
        self.err.print(
            Text.assemble((spec.name, "bold"), f" ({spec.model.label})  {spec.description}"),
            highlight=False,
        )
        rough = rough_translation_note(spec)
        if rough:
            self.err.print(rough, style="yellow", markup=False, highlight=False, soft_wrap=True)
        for starter in spec.starters:
            self.note(f"  try: {starter}")
        self.err.print("/help for commands, Ctrl-D to leave", style="dim")

    @property
    def prompt(self) -> str:
        return f"{self.gpt}> "

    async def handle(self, line: str) -> bool:
        """Handle one input line; False when the user asked to leave."""
        text = line.strip()
        if text.startswith("/"):
            return await self.command(text)
        if not text and self.interactive:
            return True
        await self.answer(text)
        return True

    async def answer(self, text: str, command: str = "") -> None:
        message = Message(
            text,
            self.gpt,
            SURFACE,
            user_id=self.user,
            user_name=self.user,
            thread=self.thread,
            command=command,
        )
        wrote = False
        async with self.bot.respond(message) as reply:
            try:
                async for chunk in reply:
                    if reply.result is not None and self.interactive and not reply.result.prose:
                        self.show_result(reply.result)
                        return
                    self.out.write(chunk)
                    self.out.flush()
                    wrote = True
            finally:
                if wrote or not self.interactive:
                    self.out.write("\n")
                    self.out.flush()
        for citation in reply.citations:
            self.note(f"  {citation.label}")

    def show_result(self, result: TaskResult) -> None:
        """A task's structured result as a small table of its fields."""
        table = Table(show_header=False, box=None, padding=(0, 2))
        for field, shown in result.fields():
            table.add_row(Text(field, style="bold"), Text(shown))
        Console(file=self.out).print(table)

    async def command(self, text: str) -> bool:
        name, _, arg = text.partition(" ")
        arg = arg.strip()
        if name in ("/exit", "/quit"):
            return False
        if name == "/help":
            self.err.print(HELP, highlight=False)
            tasks = self.bot.registry.command_usage()
            if tasks:
                self.err.print("task commands (also with ! in front):", highlight=False)
                for usage, text in tasks:
                    self.err.print(f"/{usage:<28} {text}", markup=False, highlight=False)
        elif name == "/reset":
            await self.bot.reset(self._key())
            self.note("conversation reset")
        elif name == "/gpts":
            for gpt in self.bot.catalog.gpts.values():
                mark = "*" if gpt.spec.name == self.gpt else " "
                self.err.print(
                    f"{mark} {gpt.spec.name:<16} {gpt.spec.description}",
                    markup=False,
                    highlight=False,
                )
        elif name == "/switch":
            if not arg:
                raise InputError("which GPT? /switch NAME (see /gpts)")
            await self.prepare(arg)
            self.gpt = arg
            self.thread = uuid.uuid4().hex
            self.note(f"now talking to {arg}")
        elif name[1:].lower() in self.bot.registry.commands:  # a task command: /translate fr ...
            await self.answer(arg, command=name[1:])
        else:
            commands = " ".join(f"/{c}" for c in sorted(self.bot.registry.commands))
            raise InputError(
                f"unknown command {name}; /help lists the console's commands"
                + (f", and the tasks offer {commands}" if commands else "")
            )
        return True

    def note(self, text: str) -> None:
        self.err.print(text, style="dim", markup=False, highlight=False, soft_wrap=True)

    def _key(self) -> ConversationKey:
        return Message("", self.gpt, SURFACE, user_id=self.user, thread=self.thread).conversation


def run_console(
    bot: Bot,
    gpt: str,
    resume: bool = False,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    debug: bool = False,
) -> int:
    """Run the console until /exit or end of input; return the exit code."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty()
    err = Console(stderr=True)
    loop = asyncio.new_event_loop()
    chat = ConsoleChat(bot, gpt, stdout, err, interactive)
    failed = False
    try:
        try:
            loop.run_until_complete(chat.start(resume))
        except BotkitError as exc:
            _report(err, exc, debug)
            return 1
        while True:
            line = _read(chat, stdin, interactive)
            if line is None:
                break
            task = loop.create_task(chat.handle(line))
            if interactive:
                loop.add_signal_handler(signal.SIGINT, task.cancel)
            try:
                if not loop.run_until_complete(task):
                    break
            except asyncio.CancelledError:
                chat.note("[stopped]")
            except LINE_ERRORS as exc:
                _report(err, exc, debug)
                failed = True
            except BotkitError as exc:
                _report(err, exc, debug)
                if not interactive:
                    return 1  # piped input cannot be fixed as it goes: stop with the cause
            except Exception as exc:  # a bug must not end the conversation: report it, go on
                _report(err, exc, debug=True)
                failed = True
            finally:
                if interactive:
                    loop.remove_signal_handler(signal.SIGINT)
    finally:
        loop.run_until_complete(bot.aclose())
        loop.close()
    return 1 if failed and not interactive else 0


def _report(err: Console, exc: Exception, debug: bool) -> None:
    if debug:
        err.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)
    error(str(exc))


def _read(chat: ConsoleChat, stdin: TextIO, interactive: bool) -> str | None:
    """The next input line, or None at end of input."""
    if not interactive:
        line = stdin.readline()
        return line.rstrip("\r\n") if line else None
    while True:
        try:
            return input(chat.prompt)
        except EOFError:
            chat.out.write("\n")
            return None
        except KeyboardInterrupt:
            chat.out.write("\n")  # Ctrl-C at the prompt clears the line; Ctrl-D or /exit leaves


def _user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "console"
