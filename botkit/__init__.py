"""botkit: turn a YAML file into a custom GPT and put it to work where people already talk."""

from botkit.core.bot import Bot
from botkit.core.conversations import ConversationKey, ConversationStore, Turn
from botkit.core.message import Attachment, Message
from botkit.core.reply import Citation, Reply, Usage
from botkit.errors import (
    BotkitError,
    ConfigError,
    ConfigProblem,
    GPTNotFound,
    InputError,
    MissingAPIKey,
    ModelError,
    ModelFileNotFound,
    ModelResponseError,
    ModelUnreachable,
    PluginError,
    StorageError,
)
from botkit.hookspecs import hookimpl
from botkit.loader import Catalog, load_catalog, load_gpt_file, parse_gpt
from botkit.models.base import ChatMessage, ChatModel, StreamEnd
from botkit.settings import Settings
from botkit.spec import GenerationParams, GPTSpec, ModelSpec
from botkit.tasks import Command, TaskContext, TaskPlugin, TaskRequest, TaskResult

__all__ = [
    "Attachment",
    "Bot",
    "BotkitError",
    "Catalog",
    "ChatMessage",
    "ChatModel",
    "Citation",
    "Command",
    "ConfigError",
    "ConfigProblem",
    "ConversationKey",
    "ConversationStore",
    "GPTNotFound",
    "GPTSpec",
    "GenerationParams",
    "InputError",
    "Message",
    "MissingAPIKey",
    "ModelError",
    "ModelFileNotFound",
    "ModelResponseError",
    "ModelSpec",
    "ModelUnreachable",
    "PluginError",
    "Reply",
    "Settings",
    "StorageError",
    "StreamEnd",
    "TaskContext",
    "TaskPlugin",
    "TaskRequest",
    "TaskResult",
    "Turn",
    "Usage",
    "hookimpl",
    "load_catalog",
    "load_gpt_file",
    "parse_gpt",
]
