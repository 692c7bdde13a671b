"""The command without a hub: settings resolution, exact JSON, the push against a scripted hub
(httpx.MockTransport), help and completion on every command, and the local stack's profiles file."""
from __future__ import annotations

import json
import stat
import tomllib
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from devstack.cli_profile import write_profiles
from ledgerbridge_cli import config, jsonio
from ledgerbridge_cli.main import app
from ledgerbridge_cli.runtime import Runtime
from tests.cli.cli_helpers import as_json, run, write_json

KEY_A = "lbk_" + "a" * 43
KEY_B = "lbk_" + "b" * 43
KEY_C = "lbk_" + "c" * 43


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for name in ("URL", "KEY", "PROFILE", "CONFIG", "OUTPUT"):
        monkeypatch.delenv(f"LEDGERBRIDGE_{name}", raising=False)


def _profiles(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _settings(*args: str, env: dict | None = None) -> dict:
    result = run(["-o", "json", *args, "config"], env=env)
    assert result.exit_code == 0, result.output
    return as_json(result)


def test_settings_come_from_flags_then_variables_then_the_profile(tmp_path):
    home_file = _profiles(tmp_path / "home" / ".config" / "ledgerbridge" / "profiles.toml",
                          f'default_profile = "shop"\n[profiles.shop]\nurl = "https://home.example"\nkey = "{KEY_A}"\n'
                          f'[profiles.other]\nurl = "https://other.example/Prod/"\n')
    found = _settings()
    assert found["profiles_file"] == str(home_file) and found["profile"] == "shop"
    assert found["settings"]["url"] == {"value": "https://home.example", "from": f"profile shop ({home_file})"}
    assert found["settings"]["key"]["value"] == "(set)"  # never the key itself

    # The project's file, when there is one, wins over the user's.
    local_file = _profiles(tmp_path / ".ledgerbridge" / "profiles.toml",
                           f'[profiles.default]\nurl = "http://127.0.0.1:8100"\nkey = "{KEY_B}"\n')
    found = _settings()
    assert Path(found["profiles_file"]).resolve() == local_file.resolve()
    assert found["profile"] == "default" and found["settings"]["url"]["value"] == "http://127.0.0.1:8100"

    # An explicit file wins over both; the variable names it as well as the flag.
    assert _settings(env={"LEDGERBRIDGE_CONFIG": str(home_file)})["profile"] == "shop"
    found = _settings("--config", str(home_file), "--profile", "other")
    assert found["settings"]["url"]["value"] == "https://other.example/Prod"  # no trailing slash
    assert "key" not in found["settings"]
    assert _settings("--config", str(home_file), env={"LEDGERBRIDGE_PROFILE": "other"})["profile"] == "other"

    # Variables over the profile, flags over variables.
    found = _settings("--config", str(home_file), env={"LEDGERBRIDGE_URL": "https://env.example",
                                                       "LEDGERBRIDGE_KEY": KEY_C})
    assert found["settings"]["url"] == {"value": "https://env.example", "from": "LEDGERBRIDGE_URL"}
    assert found["settings"]["key"] == {"value": "(set)", "from": "LEDGERBRIDGE_KEY"}
    found = _settings("--config", str(home_file), "--url", "https://flag.example",
                      env={"LEDGERBRIDGE_URL": "https://env.example"})
    assert found["settings"]["url"] == {"value": "https://flag.example", "from": "--url"}

    text = run(["--config", str(home_file), "config"], env={"LEDGERBRIDGE_KEY": KEY_C})
    assert "LEDGERBRIDGE_KEY" in text.stdout and KEY_C not in text.output and KEY_A not in text.output


@pytest.mark.parametrize(("content", "args", "message"), [
    ('[profiles.a]\nulr = "x"\n', ["--profile", "a"], "unknown setting 'ulr'"),
    ('[profiles.a]\nurl = "x"\n', ["--profile", "b"], "no profile 'b' (from --profile)"),
    ('[profiles.a]\nurl = "ftp://x"\n', ["--profile", "a"], "must start with http:// or https://"),
    ("[profiles.a\n", [], "not valid TOML"),
])
def test_profile_mistakes_are_named(tmp_path, content, args, message):
    path = _profiles(tmp_path / "p.toml", content)
    result = run(["--config", str(path), *args, "config"])
    assert result.exit_code == 2 and message in result.stderr
    assert run(["--config", str(path), *args, "push", "--help"]).exit_code == 0  # help needs no settings


def test_missing_settings_say_where_to_put_them(tmp_path):
    result = run(["connections"])
    assert result.exit_code == 2 and "no hub URL: pass --url, set LEDGERBRIDGE_URL" in result.stderr
    result = run(["--url", "http://hub", "connections"], env={"LEDGERBRIDGE_KEY": "secret-not-a-key"})
    assert result.exit_code == 2 and "not a tenant API key" in result.stderr and "secret-not-a-key" not in result.stderr
    result = run(["--profile", "x", "config"])
    assert result.exit_code == 2 and "there is no profiles file" in result.stderr
    result = run(["--config", str(tmp_path / "nope.toml"), "config"])
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_json_keeps_money_exact():
    text = '{"gross": 1234.40, "rate": 25, "tiny": 0.1, "big": 1e2, "list": [0.10, "0.10", null, true]}'
    parsed = jsonio.loads(text)
    assert parsed["gross"] == Decimal("1234.40") and isinstance(parsed["rate"], int)
    assert jsonio.dumps(parsed) == '{"gross":1234.40,"rate":25,"tiny":0.1,"big":1E+2,"list":[0.10,"0.10",null,true]}'
    assert json.loads(jsonio.dumps(parsed, indent=2), parse_float=Decimal) == parsed
    with pytest.raises(ValueError):
        jsonio.dumps({"x": Decimal("NaN")})


class ScriptedHub:
    """A hub answering from a function; records every request."""

    def __init__(self, answer):
        self.answer, self.requests = answer, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request, len(self.requests))

    def cli(self, *args: str, sleep=None):
        runtime = Runtime(transport=httpx.MockTransport(self), sleep=sleep or (lambda s: None))
        return run(["--url", "https://hub.example/Prod", *args], runtime=runtime, env={"LEDGERBRIDGE_KEY": KEY_A})


def test_push_sends_amounts_digit_for_digit_and_stops_when_the_key_is_refused(tmp_path):
    (tmp_path / "z.json").write_text('[{"document_id": "Z-1", "totals": {"gross": 1234.40, "vat": 0.10}},'
                                     ' {"document_id": "Z-2"}, {"document_id": "Z-3"}]', encoding="utf-8")
    hub = ScriptedHub(lambda request, n: httpx.Response(201 if n == 1 else 401, json={"message": "Unauthorized"}))
    result = hub.cli("-o", "json", "push", "settlements", "con_1", "z.json", "--supersede")
    assert result.exit_code == 1
    first = hub.requests[0]
    assert first.url == "https://hub.example/Prod/connections/con_1/settlements?supersede=true"
    assert first.headers["Authorization"] == f"Bearer {KEY_A}"
    assert first.headers["Content-Type"] == "application/json"
    assert first.content == b'{"document_id":"Z-1","totals":{"gross":1234.40,"vat":0.10}}'
    assert len(hub.requests) == 2  # stopped at the refused key: Z-3 never sent
    report = as_json(result)
    assert report["counts"] == {"created": 1, "not_sent": 2}
    assert report["stopped"]["status"] == 401 and "revoked" in report["stopped"]["message"]


def test_push_customers_goes_in_batches_of_500(tmp_path):
    write_json(tmp_path / "a.json", [{"id": f"C{n}", "tags": ["T"]} for n in range(700)])
    write_json(tmp_path / "b.json", {"customers": [{"id": f"D{n}"} for n in range(501)]})
    write_json(tmp_path / "c.json", {"id": "E1", "tags": ["T"]})

    def answer(request: httpx.Request, n: int) -> httpx.Response:
        batch = json.loads(request.content)["customers"]
        if n == 3:  # one bad record refuses its whole batch; the details say which
            return httpx.Response(422, json={"error": "validation_failed", "message": "invalid customers",
                                             "details": [{"field": "customers.7.id", "message": "too long"}]})
        return httpx.Response(202, json={"results": [{"id": c["id"], "outcome": "queued"} for c in batch],
                                         "counts": {"queued": len(batch)}})

    hub = ScriptedHub(answer)
    result = hub.cli("-o", "json", "push", "customers", "con_1", "a.json", "b.json", "c.json")
    sizes = [len(json.loads(r.content)["customers"]) for r in hub.requests]
    assert sizes == [500, 500, 202]
    report = as_json(result)
    assert result.exit_code == 1
    assert report["counts"] == {"queued": 1000, "refused": 202}
    refused = [r for r in report["results"] if r["outcome"] == "refused"]
    assert refused[7]["reason"] == "customers.7.id: too long" and refused[0]["reason"].startswith("not taken")


def test_throttled_calls_are_tried_again_after_retry_after():
    waits = []
    hub = ScriptedHub(lambda request, n: httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "slow"})
                      if n < 3 else httpx.Response(200, json=[]))
    result = hub.cli("-o", "json", "connections", sleep=waits.append)
    assert result.exit_code == 0 and as_json(result) == [] and waits == [3.0, 3.0]


def test_a_connection_id_stays_one_path_segment():
    hub = ScriptedHub(lambda request, n: httpx.Response(200, json={"documents": [], "next_cursor": None}))
    for connection in ("con/../../console/sign-in-links", ".."):
        assert hub.cli("log", connection).exit_code == 0
    assert [r.url.raw_path.split(b"?")[0] for r in hub.requests] == [
        b"/Prod/connections/con%2F..%2F..%2Fconsole%2Fsign-in-links/documents", b"/Prod/connections/%2E%2E/documents"]


def _commands(group, path=()):
    for name, command in getattr(group, "commands", {}).items():
        yield (*path, name)
        yield from _commands(command, (*path, name))


def test_every_command_has_help_and_completion_is_there():
    import typer.main

    root = typer.main.get_command(app)
    commands = list(_commands(root))
    assert {("push", "settlements"), ("push", "payroll"), ("push", "customers"), ("transfer",), ("log",),
            ("setup", "export"), ("setup", "import"), ("sign-in-link",), ("connections",), ("config",),
            ("operator", "keys", "issue"), ("operator", "keys", "list"), ("operator", "keys", "revoke"),
            ("operator", "sign-in-link"), ("operator", "tenants"), ("operator", "dlq"),
            ("operator", "dlq", "redrive"), ("operator", "replay-failed")} <= set(commands)
    for command in commands:
        result = run([*command, "--help"])
        assert result.exit_code == 0 and "Usage: ledgerbridge " + " ".join(command) in result.stdout, command
    top = run(["--help"]).stdout
    assert "--install-completion" in top and "--show-completion" in top and "--output" in top
    shown = run(["--show-completion", "bash"], env={"SHELL": "/bin/bash"})
    assert shown.exit_code == 0 and "_LEDGERBRIDGE_COMPLETE" in shown.stdout


def test_the_local_stack_profiles_file(tmp_path):
    stack = SimpleNamespace(url="http://127.0.0.1:8100/", env={
        "AWS_REGION": "eu-north-1", "LB_AWS_ENDPOINT_URL": "http://127.0.0.1:8102", "LB_STAGE": "local",
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
        "LB_TENANTS_TABLE": "ledgerbridge-local-TenantsTable", "LB_CONNECTIONS_TABLE": "ledgerbridge-local-ConnectionsTable",
        "LB_DOCUMENTS_TABLE": "ledgerbridge-local-DocumentsTable",
        "LB_TRANSFER_QUEUE_URL": "http://127.0.0.1:8102/123/ledgerbridge-local-TransferQueue",
        "LB_TRANSFER_DLQ_URL": "http://127.0.0.1:8102/123/ledgerbridge-local-TransferDeadLetterQueue",
        "LB_VENDOR_URLS": "{}", "POWERTOOLS_SERVICE_NAME": "ledgerbridge"})
    path = write_profiles(stack, {"local-shop": KEY_A, "local tenant": KEY_B}, tmp_path / ".ledgerbridge" / "profiles.toml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    operator = data["profiles"]["local-operator"]
    assert operator["url"] == "http://127.0.0.1:8100" and operator["aws_endpoint_url"] == "http://127.0.0.1:8102"
    assert operator["transfer_dlq_url"].endswith("TransferDeadLetterQueue") and operator["region"] == "eu-north-1"
    assert set(operator) <= set(config.PROFILE_KEYS)
    assert data["profiles"]["local tenant"] == {"url": "http://127.0.0.1:8100", "key": KEY_B}

    # The command reads it from ./.ledgerbridge/profiles.toml.
    found = _settings("--profile", "local-shop")
    assert found["settings"]["url"]["value"] == "http://127.0.0.1:8100" and found["settings"]["key"]["value"] == "(set)"
    assert _settings("--profile", "local-operator")["settings"]["tenants_table"]["value"] == \
        "ledgerbridge-local-TenantsTable"


def test_a_key_from_the_environment_is_never_sent_to_a_url_this_folders_file_chose(tmp_path):
    project = tmp_path / ".ledgerbridge"
    project.mkdir(exist_ok=True)
    (project / "profiles.toml").write_text('default_profile = "x"\n[profiles.x]\nurl = "https://evil.example"\n')
    with pytest.raises(config.ConfigError, match="choose the profile with --profile"):
        config.resolve(key=config.Setting(KEY_A, "LEDGERBRIDGE_KEY"), cwd=tmp_path)
    # Named on purpose, or the URL given too: that is the user's choice.
    chosen = config.resolve(key=config.Setting(KEY_A, "LEDGERBRIDGE_KEY"), profile=config.Setting("x", "--profile"),
                            cwd=tmp_path)
    assert chosen.url == "https://evil.example"


def test_nan_in_a_file_is_invalid_json_not_a_crash():
    with pytest.raises(ValueError, match="NaN is not a JSON number"):
        jsonio.loads('{"amount": NaN}')
