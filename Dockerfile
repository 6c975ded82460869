# botkit in a container: `docker compose up` (compose.yaml) runs it next to Chroma and Redis.
# Build stage: the compiler builds the wheels (llama-cpp-python compiles llama.cpp).
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Run stage: no compiler; a user of its own; the data folder is a volume.
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 botkit \
 && mkdir /data /app && chown botkit:botkit /data /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels botkit && rm -rf /wheels
USER botkit
WORKDIR /app
# A starter project; mount your own configs/ and knowledge/ over it.
RUN botkit init /app
ENV BOTKIT_HOME=/data BOTKIT_CONFIG_DIR=/app/configs
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
# Serving other machines needs API keys (BOTKIT_API_KEYS); without any, botkit listens on
# loopback only and says so.
ENTRYPOINT ["botkit", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8000"]
