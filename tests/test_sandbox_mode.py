"""What `make run` starts: sandbox with no credentials, real with all, refusal in between."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from sandbox import mode, runenv
from sandbox.harness.live_stack import REPO
from sandbox.mode import CREDENTIALS, Mode, decide

ALL = {name: f"value-{name}" for name in CREDENTIALS}


def test_no_credentials_at_all_is_the_sandbox():
    assert decide({"PATH": "/bin"}).mode is Mode.SANDBOX


def test_every_credential_is_real():
    assert decide(ALL).mode is Mode.REAL


@pytest.mark.parametrize("name", CREDENTIALS)
def test_one_missing_credential_refuses_and_names_it(name):
    env = {k: v for k, v in ALL.items() if k != name}
    decision = decide(env)
    assert decision.mode is None and decision.missing == (name,)
    assert name in decision.message


def test_a_present_but_empty_variable_refuses_instead_of_sandboxing():
    # e.g. `WHATSAPP_APP_SECRET=${SECRET}` in a deployment whose SECRET is unset
    decision = decide({"WHATSAPP_APP_SECRET": ""})
    assert decision.mode is None
    assert "WHATSAPP_APP_SECRET (empty)" in decision.message
    assert "RAZORPAY_KEY_ID" in decision.message and "Razorpay is missing" in decision.message


def test_run_mode_real_never_falls_into_the_sandbox():
    decision = decide({"RUN_MODE": "real"})
    assert decision.mode is None and set(decision.missing) == set(CREDENTIALS)
    assert decide({**ALL, "RUN_MODE": "real"}).mode is Mode.REAL


def test_run_mode_sandbox_and_unknown_modes():
    assert decide({**ALL, "RUN_MODE": "sandbox"}).mode is Mode.SANDBOX
    assert decide({"RUN_MODE": "prod"}).mode is None


def test_sandbox_environment_points_the_bot_at_the_stand_ins_with_fresh_secrets():
    first = runenv.sandbox_environment({"SANDBOX_PORT": "9090", "RASA_PORT": "5015"})
    second = runenv.sandbox_environment({})
    assert first["WHATSAPP_API_BASE_URL"] == "http://127.0.0.1:9090/graph"
    assert first["RAZORPAY_API_BASE_URL"] == "http://127.0.0.1:9090/razorpay"
    assert first["RASA_URL"] == "http://127.0.0.1:5015"
    assert first["SANDBOX_PUBLIC_URL"] == "http://localhost:9090"
    assert first["DATABASE_URL"] == "sqlite:///var/sandbox/orders.db"
    for secret in ("WHATSAPP_APP_SECRET", "RAZORPAY_WEBHOOK_SECRET", "RAZORPAY_KEY_SECRET",
                   "RASA_API_TOKEN", "WHATSAPP_ACCESS_TOKEN"):
        assert len(first[secret]) >= 24 and first[secret] != second[secret]
    # Everything make run passes on is a complete set: the bot itself sees real mode.
    assert decide(first).mode is Mode.REAL


def test_sandbox_endpoints_keep_their_own_conversations():
    source = (REPO / "endpoints.yml").read_text()
    derived = yaml.safe_load(runenv.sandbox_endpoints(
        source + "\nlock_store:\n  type: redis\n", "var/sandbox"))
    assert derived["tracker_store"] == {"type": "SQL", "dialect": "sqlite",
                                        "db": "var/sandbox/tracker.db"}
    assert "lock_store" not in derived
    assert derived["action_endpoint"] == yaml.safe_load(source)["action_endpoint"]


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in CREDENTIALS and not k.startswith(("SHOPIFY_", "RUN_MODE"))}
    return {**env, **values}


def run_mode_cli(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox.mode"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_prints_shell_settings_and_a_prominent_banner():
    done = run_mode_cli(clean_env(SHOPIFY_ACCESS_TOKEN="shpat_real", SANDBOX_PORT="8181"))
    assert done.returncode == 0
    assert "SANDBOX" in done.stderr and "No real messages" in done.stderr
    assert "http://localhost:8181" in done.stderr
    # The printed lines work in a shell: a real Shopify token is dropped, the rest set.
    shell = subprocess.run(
        ["bash", "-c", 'eval "$0"; echo "$RUN_MODE|$WHATSAPP_API_BASE_URL|'
         '${SHOPIFY_ACCESS_TOKEN-unset}"', done.stdout],
        capture_output=True, text=True, timeout=30, env=clean_env(SHOPIFY_ACCESS_TOKEN="x"),
    )
    assert shell.stdout.strip() == "sandbox|http://127.0.0.1:8181/graph|unset"


def test_cli_real_mode_passes_nothing_on():
    done = run_mode_cli(clean_env(**ALL))
    assert done.returncode == 0 and done.stdout.strip() == "RUN_MODE=real"


@pytest.mark.skipif((REPO / ".env").exists(),
                    reason="a local .env would be read by run.sh and decide the mode")
def test_run_script_refuses_partial_credentials_before_starting_anything():
    done = subprocess.run(
        ["scripts/run.sh", "server"], cwd=REPO, capture_output=True, text=True, timeout=60,
        env=clean_env(RAZORPAY_KEY_ID="rzp_live_x", RAZORPAY_KEY_SECRET="s"),
    )
    assert done.returncode == 2
    assert "RAZORPAY_WEBHOOK_SECRET" in done.stderr and "WHATSAPP_APP_SECRET" in done.stderr
    assert "Rasa on" not in done.stdout


def test_banner_names_the_url():
    text = mode.banner("http://localhost:8080")
    assert "SANDBOX" in text and "http://localhost:8080" in text
    assert len({len(line) for line in text.splitlines()}) == 1  # a closed box
