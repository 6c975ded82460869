"""botkit serve: the runner, the surfaces' base, the HTTP API and web page, logs and metrics."""
