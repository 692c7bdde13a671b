"""Settings read from the environment: LB_ variables, Lambda's AWS_REGION, typed values, clear errors."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from ledgerbridge.settings import Settings, SettingsError, get_settings, reset_settings

ROOT = Path(__file__).resolve().parents[2]


def test_an_empty_environment_gives_the_defaults():
    settings = Settings.from_environ({})
    assert settings == Settings()
    assert settings.stage == "dev" and settings.aws_region == "eu-north-1" and settings.aws_endpoint_url is None
    assert settings.vendor_urls == {} and settings.max_delivery_attempts == 8
    assert settings.oauth_start_uri == "http://127.0.0.1:8100/oauth/start"


def test_lb_variables_are_read_and_typed():
    settings = Settings.from_environ({
        "LB_STAGE": "prod", "LB_DOCUMENTS_TABLE": "docs-prod", "LB_WORKER_CONCURRENCY": "12",
        "LB_TOKEN_LEASE_WAIT_SECONDS": "2.5", "LB_VENDOR_URLS": '{"visma_eaccounting.api_url": "http://x/v2"}',
        "LB_APPLICATION_IDS": "{}", "LB_AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "UNRELATED": "1",
    })
    assert settings.stage == "prod" and settings.documents_table == "docs-prod"
    assert settings.worker_concurrency == 12 and isinstance(settings.worker_concurrency, int)
    assert settings.token_lease_wait_seconds == 2.5
    assert settings.vendor_urls == {"visma_eaccounting.api_url": "http://x/v2"}
    assert settings.application_ids == {}
    assert settings.aws_endpoint_url == "http://127.0.0.1:5000"
    assert settings.secret_name("connections", "t", "c") == "ledgerbridge/prod/connections/t/c"


def test_names_are_not_case_sensitive():
    assert Settings.from_environ({"lb_stage": "test", "Lb_Max_Delivery_Attempts": "3"}) == Settings(
        stage="test", max_delivery_attempts=3)


def test_the_region_is_lambdas_own_variable():
    assert Settings.from_environ({"AWS_REGION": "eu-west-1"}).aws_region == "eu-west-1"
    assert Settings.from_environ({"LB_AWS_REGION": "eu-west-1"}).aws_region == "eu-north-1"


@pytest.mark.parametrize("variable, value", [
    ("LB_WORKER_CONCURRENCY", "five"),
    ("LB_VENDOR_TIMEOUT_SECONDS", "10s"),
    ("LB_VENDOR_URLS", "not json"),
    ("LB_VENDOR_URLS", '["a list"]'),
    ("LB_APPLICATION_IDS", '{"24sevenoffice": 42}'),
])
def test_a_value_that_does_not_parse_names_its_variable(variable, value):
    with pytest.raises(SettingsError, match=re.escape(variable)):
        Settings.from_environ({variable: value})


def test_settings_are_read_once_until_reset(monkeypatch):
    monkeypatch.setenv("LB_STAGE", "first")
    reset_settings()
    try:
        assert get_settings().stage == "first"
        monkeypatch.setenv("LB_STAGE", "second")
        assert get_settings().stage == "first"
        reset_settings()
        assert get_settings().stage == "second"
    finally:
        monkeypatch.undo()
        reset_settings()


def test_every_lb_variable_of_the_template_is_a_setting():
    """A variable template.yaml sets but no field reads would be silently ignored."""
    variables = set(re.findall(r"^\s+(LB_[A-Z0-9_]+):", (ROOT / "template.yaml").read_text(), re.MULTILINE))
    assert variables, "template.yaml sets no LB_ variable?"
    known = {"LB_" + f.name.upper() for f in fields(Settings)}
    assert variables <= known, f"not read by Settings: {sorted(variables - known)}"


def test_reading_settings_loads_no_pydantic():
    code = ("import json, sys; from ledgerbridge.settings import get_settings; s = get_settings(); "
            "print(json.dumps([s.stage, [m for m in ('pydantic', 'pydantic_settings') if m in sys.modules]]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LB_", "PYTHON"))}
    env.update(PYTHONPATH=str(ROOT / "layers" / "shared"), LB_STAGE="probe")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(ROOT / "layers" / "shared"),
                          capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == ["probe", []]
