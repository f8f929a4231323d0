"""The Razorpay stand-in (sandbox/razorpay_api.py) with the tests' keys and webhook secret.

It checks what Razorpay checks and answers with its shapes; see the stand-in's docstring.
"""

from __future__ import annotations

from sandbox import razorpay_api
from sandbox.razorpay_api import DUPLICATE_REFERENCE, RazorpayStandIn, error_body

__all__ = ["DUPLICATE_REFERENCE", "KEY_ID", "KEY_SECRET", "WEBHOOK_SECRET", "FakeRazorpay",
           "error_body", "sign"]

KEY_ID = "rzp_test_fakekey"
KEY_SECRET = "fake_key_secret"
WEBHOOK_SECRET = "fake_webhook_secret"


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return razorpay_api.sign(body, secret)


class FakeRazorpay(RazorpayStandIn):
    def __init__(self, key_id: str = KEY_ID, key_secret: str = KEY_SECRET) -> None:
        super().__init__(key_id, key_secret, WEBHOOK_SECRET)
