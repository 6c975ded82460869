"""``python -m botkit.testing``: run the stub OpenAI server until interrupted; prints its URL first."""

from __future__ import annotations

import argparse
import threading

from botkit.testing.openai_stub import StubOpenAI


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m botkit.testing", description=__doc__)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    stub = StubOpenAI(latency=args.latency).start()
    print(stub.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()


if __name__ == "__main__":
    main()
