"""botkit: turn a YAML file into a custom GPT and put it to work where people already talk."""

from botkit.core.bot import Bot
from botkit.core.conversations import ConversationKey, ConversationStore
from botkit.core.message import Message
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
)
from botkit.hookspecs import hookimpl
from botkit.loader import Catalog, load_catalog, load_gpt_file, parse_gpt
from botkit.models.base import ChatMessage, ChatModel
from botkit.spec import GenerationParams, GPTSpec, ModelSpec
from botkit.tasks import Command, TaskPlugin, TaskRequest, TaskResult

__all__ = [
    "Bot",
    "BotkitError",
    "Catalog",
    "ChatMessage",
    "ChatModel",
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
    "TaskPlugin",
    "TaskRequest",
    "TaskResult",
    "hookimpl",
    "load_catalog",
    "load_gpt_file",
    "parse_gpt",
]
