"""Sandbox or real: what `make run` starts, decided from the credentials in the environment.

- No WhatsApp and no Razorpay variable present at all: the sandbox. The bot runs for
  real against local stand-ins, with secrets generated for this run.
- Every credential present and non-empty: real.
- Anything in between refuses to start and names what is missing. A variable that is
  present but empty counts as meant-to-be-set (e.g. `${TOKEN}` from an unset
  deployment secret), so a broken production config refuses instead of sandboxing.

RUN_MODE=real (recommended in production) refuses unless every credential is set;
RUN_MODE=sandbox starts the sandbox even when credentials are present (they are then
not passed to the bot, so nothing real is sent or charged).

`python -m sandbox.mode` prints shell assignments for scripts/run.sh to eval (the
chosen mode and, for the sandbox, the generated settings) and explains on stderr;
it exits 2 when refusing.
"""

from __future__ import annotations

import enum
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from sandbox.runenv import SANDBOX_DIR, sandbox_environment, unset_in_sandbox

WHATSAPP_VARS = (
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
)
RAZORPAY_VARS = ("RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET")
CREDENTIALS = WHATSAPP_VARS + RAZORPAY_VARS


class Mode(str, enum.Enum):
    REAL = "real"
    SANDBOX = "sandbox"


@dataclass(frozen=True)
class Decision:
    mode: Mode | None  # None: refuse to start
    message: str
    missing: tuple[str, ...] = field(default=())  # absent or empty, when refusing


def decide(env: Mapping[str, str]) -> Decision:
    requested = (env.get("RUN_MODE") or "auto").strip().lower()
    if requested not in ("auto", "real", "sandbox"):
        return Decision(None, f"RUN_MODE={requested!r}: use auto, real or sandbox.")
    if requested == "sandbox":
        return Decision(Mode.SANDBOX, "RUN_MODE=sandbox")
    present = [name for name in CREDENTIALS if name in env]
    missing = tuple(name for name in CREDENTIALS if not env.get(name))
    if not missing:
        return Decision(Mode.REAL, "WhatsApp and Razorpay credentials are set")
    if not present and requested == "auto":
        return Decision(Mode.SANDBOX, "no WhatsApp or Razorpay credentials in the environment")
    return Decision(None, _refusal(env, missing, requested), missing)


def _refusal(env: Mapping[str, str], missing: tuple[str, ...], requested: str) -> str:
    def describe(names: tuple[str, ...]) -> str:
        return ", ".join(f"{n} (empty)" if n in env else n for n in names)

    lines = ["Refusing to start: some credentials are set but not all of them."
             if requested == "auto" else "Refusing to start: RUN_MODE=real needs every credential."]
    for service, names in (("WhatsApp", WHATSAPP_VARS), ("Razorpay", RAZORPAY_VARS)):
        lacking = tuple(n for n in names if n in missing)
        if lacking:
            lines.append(f"  {service} is missing: {describe(lacking)}")
    lines.append("Set all of them to run for real (README: Setting up WhatsApp / Razorpay),")
    lines.append("or unset every WHATSAPP_* and RAZORPAY_* credential to run the sandbox.")
    return "\n".join(lines)


def banner(url: str) -> str:
    lines = [
        "SANDBOX: no WhatsApp or Razorpay account is used.",
        "No real messages are sent and no real money moves.",
        f"Open the shop's chat:  {url}",
    ]
    width = max(len(line) for line in lines) + 4
    rule = "#" * (width + 2)
    return "\n".join([rule, *(f"#  {line.ljust(width - 2)}#" for line in lines), rule])


def shell_lines(mode: Mode, env: Mapping[str, str], settings: Mapping[str, str]) -> list[str]:
    """Assignments for the run script: RUN_MODE, and for the sandbox its settings."""
    lines = [f"RUN_MODE={mode.value}"]
    if mode is Mode.SANDBOX:
        lines += [f"unset {name}" for name in unset_in_sandbox(env)]
        lines += [f"export {name}={shlex.quote(value)}" for name, value in settings.items()]
    return lines


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    decision = decide(env)
    if decision.mode is None:
        print(decision.message, file=sys.stderr)
        return 2
    settings = sandbox_environment(env) if decision.mode is Mode.SANDBOX else {}
    print("\n".join(shell_lines(decision.mode, env, settings)))
    if decision.mode is Mode.SANDBOX:
        print(f"Sandbox mode: {decision.message}. State lives in {SANDBOX_DIR}/ "
              "and starts empty each run.", file=sys.stderr)
        print(banner(settings["SANDBOX_PUBLIC_URL"]), file=sys.stderr)
        # The link signs the page in once (the token is in the fragment: never sent).
        print(f"Merchant inbox, to answer customers handed to a person: "
              f"{settings['MERCHANT_INBOX_URL']}#token={settings['MERCHANT_INBOX_TOKEN']}",
              file=sys.stderr)
    else:
        print(f"Real mode: {decision.message}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
