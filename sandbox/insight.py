"""For conversation designers: what the bot understood and did, turn by turn.

Reads a Rasa tracker (events as the HTTP API returns them) into one turn per customer
message: the predicted intent and its confidence, the runners-up, the entities, the
actions that ran (with the policy that chose each) and the slots they set. Turns carry
the WhatsApp message id, so the chat page can put each beside its bubble.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

IGNORED_ACTIONS = frozenset({"action_listen", "action_session_start"})


@dataclass
class Turn:
    message_id: str | None
    text: str
    intent: str | None
    confidence: float | None
    external: bool  # injected by the payment webhook, not said by the customer
    ranking: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def turns(tracker: dict[str, Any]) -> list[Turn]:
    result: list[Turn] = []
    for event in tracker.get("events") or []:
        kind = event.get("event")
        if kind == "user":
            result.append(_turn(event))
        elif not result:
            continue  # the session start, before the customer said anything
        elif kind == "action" and event.get("name") not in IGNORED_ACTIONS:
            confidence = event.get("confidence")
            result[-1].actions.append({
                "name": event.get("name"),
                "policy": event.get("policy"),
                "confidence": round(confidence, 3) if isinstance(confidence, float) else None,
            })
        elif kind == "slot":
            result[-1].slots[str(event.get("name"))] = event.get("value")
    return result


def _turn(event: dict[str, Any]) -> Turn:
    parse = event.get("parse_data") or {}
    intent = parse.get("intent") or {}
    name = intent.get("name")
    confidence = intent.get("confidence")
    return Turn(
        message_id=event.get("message_id"),
        text=str(event.get("text") or ""),
        intent=name,
        confidence=round(confidence, 3) if isinstance(confidence, (int, float)) else None,
        external=str(name or "").startswith("EXTERNAL_"),
        ranking=[
            {"name": r.get("name"), "confidence": round(r.get("confidence") or 0.0, 3)}
            for r in (parse.get("intent_ranking") or [])[1:4]
        ],
        entities=[
            {"entity": e.get("entity"), "value": e.get("value"), "extractor": e.get("extractor")}
            for e in parse.get("entities") or []
        ],
    )
