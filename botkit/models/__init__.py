"""Model providers: the protocol every chat model implements, and the built-in providers."""

from botkit.models.base import ChatMessage, ChatModel, ProviderFactory

__all__ = ["ChatMessage", "ChatModel", "ProviderFactory"]
