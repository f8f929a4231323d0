"""The Graph API stand-in (sandbox/graph_api.py) with the tests' token, number and version.

It checks what Meta checks and answers like Meta; see the stand-in's docstring.
"""

from __future__ import annotations

from sandbox.graph_api import GraphApiStandIn, Recorded, ValidationError, validate

__all__ = ["API_VERSION", "PHONE_NUMBER_ID", "TOKEN", "FakeGraphApi", "Recorded",
           "ValidationError", "validate"]

TOKEN = "test-access-token"
PHONE_NUMBER_ID = "106540352242922"
API_VERSION = "v21.0"


class FakeGraphApi(GraphApiStandIn):
    def __init__(
        self,
        token: str = TOKEN,
        phone_number_id: str = PHONE_NUMBER_ID,
        api_version: str = API_VERSION,
        latency: float = 0.0,
    ) -> None:
        super().__init__(token, phone_number_id, api_version, latency=latency)
