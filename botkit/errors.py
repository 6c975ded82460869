"""Every error botkit shows a user, worded in one place.

The tree::

    BotkitError                  anything botkit reports as one clear line (no traceback)
    ├── ConfigError              a GPT file is wrong; carries every ConfigProblem of the file(s)
    ├── GPTNotFound              no GPT of that name; lists the ones that exist
    ├── PluginError              a plugin or provider failed to load or is unknown
    ├── InputError               a user message cannot be answered as given (empty, too long)
    │   └── InputTooLong         over the deployment's size limit
    ├── AccessDenied             the deployment file does not let this user, channel or key use it
    ├── RateLimited              too many messages from this user: ``retry_after`` seconds
    ├── KnowledgeError           documents could not be indexed or searched
    │   └── StoreUnreachable     the Chroma server does not answer
    ├── StorageError             a conversation (or feedback, usage...) could not be saved or read
    └── ModelError               the model could not answer
        ├── ModelFileNotFound    a GGUF path that does not exist
        ├── MissingAPIKey        the API-key environment variable is not set
        ├── ModelUnreachable     the server at base_url does not answer
        └── ModelResponseError   the server answered with an error

Each message says what is wrong and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass


class BotkitError(Exception):
    """Base class: a problem the user can fix, shown as one message without a traceback."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in one file: where it is, which field, and what is expected."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(BotkitError):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def quoted(name: str, limit: int = 60) -> str:
    """``repr(name)``, cut to ``limit`` characters: a name someone typed, echoed in an error
    (a chat platform refuses a message over its length, 2,000 characters on Discord)."""
    return repr(name) if len(name) <= limit else repr(name[:limit]) + f" (cut at {limit})"


class GPTNotFound(BotkitError):
    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = available
        known = ", ".join(available) if available else "none (add a YAML file under configs/gpts/)"
        super().__init__(f"no GPT named {quoted(name)}; available: {known}")


class PluginError(BotkitError):
    pass


class InputError(BotkitError):
    pass


class InputTooLong(InputError):
    """A message over the deployment's size limit (an HTTP API answers it with 413)."""


class AccessDenied(BotkitError):
    def __init__(self, gpt: str) -> None:
        self.gpt = gpt
        super().__init__(f"you may not use GPT {quoted(gpt)} here: ask the bot's owner for access")


class RateLimited(BotkitError):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"too many messages: wait {max(1, round(retry_after))} s before sending another"
        )


class KnowledgeError(BotkitError):
    pass


def _unreachable(what: str, url: str, detail: str, advice: str) -> str:
    extra = f" ({detail})" if detail else ""
    return f"cannot reach the {what} at {url}{extra}: {advice}"


class StoreUnreachable(KnowledgeError):
    def __init__(self, url: str, detail: str = "") -> None:
        self.url = url
        advice = (
            "start it (`chroma run --path DIR --port N`) or unset chroma_url / BOTKIT_CHROMA_URL "
            "to use the embedded store"
        )
        super().__init__(_unreachable("Chroma server", url, detail, advice))


class StorageError(BotkitError):
    pass


class ModelError(BotkitError):
    pass


class ModelFileNotFound(ModelError):
    pass


class MissingAPIKey(ModelError):
    def __init__(self, env_var: str) -> None:
        self.env_var = env_var
        super().__init__(
            f"the API key is missing: set it with `export {env_var}=...` "
            "(or name another variable with `api_key_env:` in the GPT's model section)"
        )


class ModelUnreachable(ModelError):
    def __init__(self, url: str, detail: str = "") -> None:
        self.url = url
        advice = "is it running, and is base_url right?"
        super().__init__(_unreachable("model server", url, detail, advice))


class ModelResponseError(ModelError):
    pass
