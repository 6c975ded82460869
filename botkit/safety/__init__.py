"""Safety: redaction (botkit.safety.redact) and moderation (botkit.safety.moderation)."""
