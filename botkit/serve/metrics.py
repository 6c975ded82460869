"""Prometheus metrics of one server (prometheus-client), served at ``/metrics`` by the API app:
replies and their latency per GPT and surface, model calls and tokens per GPT and model, errors."""

from __future__ import annotations

from typing import Any

from botkit.core.message import Message
from botkit.core.metering import ModelCall
from botkit.core.reply import Reply

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.replies = Counter(
            "botkit_replies", "Replies, by how they ended", ["gpt", "surface", "finish_reason"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "botkit_reply_seconds", "Seconds from a message to the end of its reply",
            ["gpt", "surface"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.errors = Counter(
            "botkit_reply_errors", "Replies that failed", ["gpt", "surface"], registry=self.registry
        )
        self.calls = Counter(
            "botkit_model_calls", "Model calls", ["gpt", "model", "kind", "ok"],
            registry=self.registry,
        )  # fmt: skip
        self.tokens = Counter(
            "botkit_tokens", "Tokens sent to and received from models",
            ["gpt", "model", "direction"], registry=self.registry,
        )  # fmt: skip

    def reply(self, reply: Reply, message: Message | None) -> None:
        surface = message.surface if message else ""
        finish = reply.finish_reason or "unknown"
        self.replies.labels(reply.gpt, surface, finish).inc()
        if reply.latency is not None:
            self.latency.labels(reply.gpt, surface).observe(reply.latency)
        if finish == "error":
            self.errors.labels(reply.gpt, surface).inc()

    def call(self, call: ModelCall) -> None:
        self.calls.labels(call.gpt, call.model, call.kind, "yes" if call.ok else "no").inc()
        self.tokens.labels(call.gpt, call.model, "in").inc(call.prompt_tokens)
        self.tokens.labels(call.gpt, call.model, "out").inc(call.completion_tokens)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def attach(bot: Any) -> Metrics:
    """Metrics fed by ``bot``'s replies and model calls."""
    metrics = Metrics()
    bot.observers.append(metrics.reply)
    bot.usage_sinks.append(metrics.call)
    return metrics
