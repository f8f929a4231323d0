"""Async client for the WhatsApp Cloud API messages endpoint (Graph API).

Kept apart from the web layer: it knows HTTP, retries and Graph error bodies, and
nothing about Rasa. One aiohttp session per client, created lazily on the running
loop (the channel is built before Sanic starts its loop).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"

# Codes that mean "slow down and try again": 2 temporary service error, 4 app call
# limit, 80007 account rate limit, 130429 throughput, 131056 pair rate limit.
# 131048 (spam limit) is not retried: it lifts with the number's quality rating, not
# within seconds, and hammering it makes matters worse.
RETRYABLE_CODES = frozenset({2, 4, 80007, 130429, 131056})
# Re-engagement: more than 24 hours since the recipient's last message to the business,
# so only an approved template message is delivered.
WINDOW_CLOSED_CODE = 131047


class GraphApiError(Exception):
    """A Graph API call failed (after retries, when the failure was transient)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        fbtrace_id: str | None = None,
        details: str | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.fbtrace_id = fbtrace_id
        self.details = details
        self.transient = transient

    @classmethod
    def from_response(cls, status: int, body: Any) -> GraphApiError:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return cls(f"HTTP {status} without a Graph error body", status=status,
                       transient=status >= 500 or status == 429)
        data = error.get("error_data")
        code = error.get("code")
        code = int(code) if isinstance(code, (int, str)) and str(code).isdigit() else None
        return cls(
            str(error.get("message") or f"HTTP {status}"),
            status=status,
            code=code,
            fbtrace_id=error.get("fbtrace_id"),
            details=data.get("details") if isinstance(data, dict) else None,
            transient=status >= 500 or status == 429 or code in RETRYABLE_CODES,
        )

    def __str__(self) -> str:
        return (
            f"{self.message} (status={self.status}, code={self.code}, "
            f"fbtrace_id={self.fbtrace_id}, details={self.details})"
        )


class WhatsAppClient:
    def __init__(
        self,
        access_token: str | None,
        phone_number_id: str | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
    ) -> None:
        self._token = access_token
        self._messages_url = f"{base_url.rstrip('/')}/{api_version}/{phone_number_id}/messages"
        self.configured = bool(access_token and phone_number_id)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_env(cls) -> WhatsAppClient:
        return cls(
            os.environ.get("WHATSAPP_ACCESS_TOKEN"),
            os.environ.get("WHATSAPP_PHONE_NUMBER_ID"),
            base_url=os.environ.get("WHATSAPP_API_BASE_URL") or DEFAULT_BASE_URL,
            api_version=os.environ.get("WHATSAPP_API_VERSION") or DEFAULT_API_VERSION,
        )

    async def send(self, to: str, message: dict[str, Any]) -> str | None:
        """Send one message object (`{"type": ..., <type>: {...}}`); returns its wamid.

        Fields given in `message` win, so a custom payload is sent exactly as written.
        """
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        body.update(message)
        answer = await self._post(body, attempts=self._max_attempts)
        sent = answer.get("messages") if isinstance(answer, dict) else None
        return sent[0].get("id") if sent and isinstance(sent[0], dict) else None

    async def send_text(self, to: str, body: str, preview_url: bool = False) -> str | None:
        return await self.send(
            to, {"type": "text", "text": {"body": body, "preview_url": preview_url}}
        )

    async def send_interactive(self, to: str, interactive: dict[str, Any]) -> str | None:
        return await self.send(to, {"type": "interactive", "interactive": interactive})

    async def send_image(self, to: str, link: str, caption: str | None = None) -> str | None:
        image = {"link": link, **({"caption": caption} if caption else {})}
        return await self.send(to, {"type": "image", "image": image})

    async def mark_as_read(self, message_id: str, typing: bool = True) -> None:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        # One attempt only: a read receipt is not worth delaying the reply for.
        await self._post(body, attempts=1)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _session_on_running_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._loop = loop
        return self._session

    async def _post(self, body: dict[str, Any], attempts: int) -> Any:
        if not self.configured:
            logger.error("WhatsApp message not sent: set WHATSAPP_ACCESS_TOKEN and "
                         "WHATSAPP_PHONE_NUMBER_ID")
            raise GraphApiError("WhatsApp sending is not configured")
        session = self._session_on_running_loop()
        # The token lives only in this header: never in the URL, never in a log line.
        headers = {"Authorization": f"Bearer {self._token}"}
        kind = body.get("type") or body.get("status")
        attempt = 0
        while True:
            attempt += 1
            try:
                async with session.post(self._messages_url, json=body, headers=headers) as resp:
                    answer = await _json_or_none(resp)
                    if resp.status < 300:
                        return answer
                    error = GraphApiError.from_response(resp.status, answer)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                # Includes timeouts after the request left: a retry may duplicate a
                # message, which we prefer to losing a reply (e.g. the payment link).
                error = GraphApiError(f"{type(exc).__name__}: {exc}", transient=True)

            if not error.transient or attempt >= attempts:
                logger.error(
                    "WhatsApp %s failed for good after %d attempt(s): status=%s code=%s "
                    "fbtrace_id=%s message=%s details=%s",
                    kind, attempt, error.status, error.code, error.fbtrace_id,
                    error.message, error.details,
                )
                raise error
            delay = self._backoff(attempt)
            logger.warning(
                "WhatsApp %s attempt %d/%d failed, retrying in %.2fs: status=%s code=%s "
                "fbtrace_id=%s message=%s",
                kind, attempt, attempts, delay, error.status, error.code,
                error.fbtrace_id, error.message,
            )
            await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        # Exponential with "equal jitter": half fixed, half random, so retries of many
        # senders spread out but none comes back immediately.
        cap = min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1))
        return cap / 2 + random.uniform(0, cap / 2)


async def _json_or_none(resp: aiohttp.ClientResponse) -> Any:
    try:
        return await resp.json(content_type=None)
    except ValueError:
        return None
