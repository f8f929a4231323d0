"""`make inbox`: the inbox and outbox at a glance, customers waiting for a person,
parked items, and retrying them.

    python -m server.inbox_cli                 depth, oldest age, parked and failed counts,
                                               the latest outbox messages given up on and
                                               the parked items, with their errors
    python -m server.inbox_cli --retry 12 15   put parked items 12 and 15 back in the queue
    python -m server.inbox_cli --retry all     put every parked item back
    python -m server.inbox_cli --resend 7      send outbox message 7, given up on, again
    python -m server.inbox_cli --resend all    send every message given up on again

It reads DATABASE_URL, like the servers; a running consumer picks retried items up
within its poll interval.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from durable.inbox import Inbox
from durable.outbox import Outbox
from handover.store import Handover, HandoverStore
from orders.store import get_store


async def _run(retry: list[str] | None, resend: list[str] | None) -> int:
    engine = get_store().engine
    inbox = Inbox(engine)
    outbox = Outbox(engine)
    if retry:
        count = await inbox.retry(_ids(retry))
        print(f"{count} parked item(s) back in the queue")
    if resend:
        count = await outbox.resend(_ids(resend))
        print(f"{count} outbox message(s) given up on queued to send again")
    if retry or resend:
        return 0
    report = {"inbox": await inbox.stats(), "outbox": await outbox.stats()}
    print(json.dumps(report, indent=2))
    _print_handovers(await asyncio.to_thread(HandoverStore(engine).waiting))
    _print_given_up(await outbox.given_up())
    parked = await inbox.parked()
    if not parked:
        print("No parked items.")
        return 0
    print(f"\n{len(parked)} parked item(s) (retry with: make inbox RETRY=\"ID ...\" or RETRY=all):")
    for item in parked:
        print(
            f"  #{item.id}  {item.received_at:%Y-%m-%d %H:%M:%S}  {item.kind:<8} "
            f"{item.customer_id}  {item.dedupe_key}  after {item.attempts} attempt(s): "
            f"{item.last_error}"
        )
    return 0


def _print_handovers(waiting: list[Handover]) -> None:
    if not waiting:
        print("Nobody is waiting for a person.")
        return
    print(f"{len(waiting)} customer(s) waiting for a person (answer on /webhooks/merchant/):")
    for handover in waiting:
        human = handover.last_human_at
        print(
            f"  {handover.customer_id}  since {handover.started_at:%Y-%m-%d %H:%M:%S}  "
            f"{handover.reason:<15} last answered: "
            f"{f'{human:%Y-%m-%d %H:%M:%S}' if human else 'not yet'}"
        )


def _print_given_up(messages: list[dict[str, Any]]) -> None:
    if not messages:
        return
    print(
        f"\nLatest {len(messages)} outbox message(s) given up on (not sent; send again "
        f"with: make inbox RESEND=\"ID ...\" or RESEND=all):"
    )
    for message in messages:
        print(
            f"  #{message['id']}  {message['created_at']:%Y-%m-%d %H:%M:%S}  to "
            f"{message['customer_id']}  {message['source']}  after {message['attempts']} "
            f"attempt(s): {message['last_error']}"
        )


def _ids(values: list[str]) -> list[int] | None:
    return None if values == ["all"] else [int(value) for value in values]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--retry", nargs="+", metavar="ID", help="parked item ids to retry, or 'all'"
    )
    parser.add_argument(
        "--resend", nargs="+", metavar="ID",
        help="ids of outbox messages given up on to send again, or 'all'",
    )
    args = parser.parse_args(argv)
    for option in ("retry", "resend"):
        values = getattr(args, option)
        if values and values != ["all"] and not all(v.isdigit() for v in values):
            parser.error(f"--{option} takes ids (numbers) or 'all'")
    return asyncio.run(_run(args.retry, args.resend))


if __name__ == "__main__":
    sys.exit(main())
