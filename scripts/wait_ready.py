"""Say, once, when the bot can answer: `make run` starts this beside the servers.

Ready means every Rasa server answers its WhatsApp health check (Rasa serves only once
its model is loaded) and reports its inbox consumer running (`"consuming": true`), so a
message that arrives now is answered now. Until then the sandbox page shows
"starting…" and holds what is typed.

    python scripts/wait_ready.py --health http://127.0.0.1:5006/webhooks/whatsapp/ \
        [--health ...] [--chat http://localhost:8080] [--webhooks http://localhost:5005] \
        [--since EPOCH_SECONDS] [--timeout 600]

Exits 0 once ready (after printing the READY lines), 1 when the time is up (saying so).
Standard library only: it starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

POLL_SECONDS = 1.0


def is_ready(url: str, timeout: float = 2.0) -> bool:
    """The health check answers 200 and does not report its consumer stopped."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if response.status != 200:
                return False
            body = response.read()
    except (OSError, ValueError):  # refused, timed out, HTTP errors (URLError is an OSError)
        return False
    try:
        report = json.loads(body)
    except ValueError:
        return True
    return not isinstance(report, dict) or report.get("consuming", True) is not False


def ready_lines(seconds: float, chat: str | None, webhooks: str | None) -> list[str]:
    lines = [f"READY after {seconds:.0f} s: the bot answers (model loaded, inbox consumer "
             "running)."]
    if chat:
        lines.append(f"Chat with it in the sandbox: {chat}")
    if webhooks:
        lines.append(f"Webhooks: {webhooks}/webhooks/whatsapp/webhook and "
                     f"{webhooks}/webhooks/razorpay/webhook")
    width = max(len(line) for line in lines)
    rule = "=" * width
    return [rule, *lines, rule]


def wait(
    urls: list[str], timeout: float, check: Callable[[str], bool] = is_ready,
    poll: float = POLL_SECONDS, clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """True once every URL is ready (each stays counted once it was), False at timeout."""
    deadline = clock() + timeout
    pending = list(urls)
    while True:
        pending = [url for url in pending if not check(url)]
        if not pending:
            return True
        if clock() >= deadline:
            return False
        sleep(poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--health", action="append", required=True,
                        help="a Rasa server's /webhooks/whatsapp/ URL (repeat for several)")
    parser.add_argument("--chat", help="the sandbox chat page's URL, to show")
    parser.add_argument("--webhooks", help="the public base URL of the webhooks, to show")
    parser.add_argument("--since", type=float, help="when the start began (epoch seconds)")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    since = args.since or time.time()
    if not wait(args.health, args.timeout):
        print(f"NOT READY after {args.timeout:.0f} s: the bot does not answer at "
              f"{', '.join(args.health)}; see the log above.", file=sys.stderr, flush=True)
        return 1
    print("\n".join(["", *ready_lines(time.time() - since, args.chat, args.webhooks), ""]),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
