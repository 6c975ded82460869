"""The platform-neutral core: messages in, reply streams out."""
