"""Where the command finds the hub, its tenant key and (for operators) the hub's AWS resources.

Each setting is taken from the first place that has it:

1. a flag (``--url``, ``--key``),
2. the environment (``LEDGERBRIDGE_URL``, ``LEDGERBRIDGE_KEY``),
3. the chosen profile of the profiles file.

The profiles file is ``--config`` / ``LEDGERBRIDGE_CONFIG`` if given (it must exist), else
``./.ledgerbridge/profiles.toml`` if there is one, else ``~/.config/ledgerbridge/profiles.toml``
(``$XDG_CONFIG_HOME/ledgerbridge/profiles.toml`` where that is set). The profile is ``--profile`` /
``LEDGERBRIDGE_PROFILE``, else the file's ``default_profile``, else one named ``default``::

    default_profile = "bakery"

    [profiles.bakery]
    url = "https://api.example.com/Prod"
    key = "lbk_…"

    [profiles.prod-operator]
    region = "eu-north-1"
    stack = "ledgerbridge-prod"        # tables and queues are looked up in this CloudFormation stack

A key is never printed: ``ledgerbridge config`` says only whether one is set and where it came from.
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

URL_ENV = "LEDGERBRIDGE_URL"
KEY_ENV = "LEDGERBRIDGE_KEY"
PROFILE_ENV = "LEDGERBRIDGE_PROFILE"
CONFIG_ENV = "LEDGERBRIDGE_CONFIG"
KEY_PREFIX = "lbk_"

# The hub's resources by the shared layer's setting names (ledgerbridge.settings.Settings; each is
# the LB_<NAME> environment variable of the functions).
RESOURCE_KEYS = (
    "tenants_table", "connections_table", "documents_table", "companies_table", "sync_table",
    "oauth_states_table", "leases_table", "idempotency_table", "transfer_queue_url", "transfer_dlq_url",
    "attachments_bucket",
)
# Everything a profile may hold, with what it is for (``ledgerbridge config`` lists them).
PROFILE_KEYS: dict[str, str] = {
    "url": "the hub's API base URL (tenant commands; operators: the console link's base)",
    "key": "a tenant API key, lbk_… (tenant commands)",
    "region": "AWS region of the hub (operator commands)",
    "aws_profile": "a named AWS profile for the operator commands' credentials",
    "aws_endpoint_url": "an AWS endpoint to use instead of AWS's own (the local stack's moto server)",
    "aws_access_key_id": "AWS credentials for a local emulator only (use aws_profile for AWS itself)",
    "aws_secret_access_key": "AWS credentials for a local emulator only",
    "stack": "the hub's CloudFormation stack: its tables and queues are looked up there",
    "stage": "the hub's stage (LB_STAGE)",
    **{name: f"{name.replace('_', ' ')} (overrides the stack's)" for name in RESOURCE_KEYS},
}
SECRET_KEYS = frozenset({"key", "aws_access_key_id", "aws_secret_access_key"})


@dataclass(frozen=True)
class Setting:
    value: str
    origin: str  # "--url", "LEDGERBRIDGE_URL", "profile bakery (/path/profiles.toml)"


@dataclass
class Config:
    """The settings in force for this invocation, each with where it came from."""

    profile: str | None = None
    path: Path | None = None
    settings: dict[str, Setting] = field(default_factory=dict)
    available_profiles: list[str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        found = self.settings.get(name)
        return found.value if found else None

    @property
    def url(self) -> str | None:
        return self.get("url")

    def tenant(self) -> tuple[str, str]:
        """The hub URL and tenant key, or a ConfigError saying how to give them."""
        url, key = self.url, self.get("key")
        where = self._where()
        if not url:
            raise ConfigError(f"no hub URL: pass --url, set {URL_ENV}, or add url to a profile{where}")
        if not key:
            raise ConfigError(f"no tenant API key: pass --key, set {KEY_ENV}, or add key to a profile{where}")
        if not key.startswith(KEY_PREFIX):
            origin = self.settings["key"].origin
            raise ConfigError(f"the key from {origin} is not a tenant API key (those start with {KEY_PREFIX})")
        return url, key

    def _where(self) -> str:
        if self.path is None:
            return " (no profiles file found)"
        if self.profile is None:
            names = ", ".join(self.available_profiles) or "none"
            return f" and choose it with --profile or {PROFILE_ENV} (profiles in {self.path}: {names})"
        return f" (profile {self.profile} in {self.path})"

    def describe(self) -> dict:
        """What is in force, for people: secrets only as "set"."""
        return {
            "profiles_file": str(self.path) if self.path else None,
            "profile": self.profile,
            "profiles": self.available_profiles,
            "settings": {name: {"value": "(set)" if name in SECRET_KEYS else s.value, "from": s.origin}
                         for name, s in sorted(self.settings.items())},
        }


def find_profiles_file(explicit: Setting | None, *, cwd: Path | None = None,
                       environ: Mapping[str, str] | None = None) -> Path | None:
    """The profiles file in force: the explicit one (must exist), else the project's, else the user's."""
    if explicit is not None:
        path = Path(explicit.value).expanduser()
        if not path.is_file():
            raise ConfigError(f"profiles file {path} (from {explicit.origin}) does not exist")
        return path
    environ = os.environ if environ is None else environ
    local = (cwd or Path.cwd()) / ".ledgerbridge" / "profiles.toml"
    if local.is_file():
        return local
    base = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    user = base / "ledgerbridge" / "profiles.toml"
    return user if user.is_file() else None


def read_profiles(path: Path) -> tuple[dict[str, dict[str, str]], str | None]:
    """The profiles of a file (name -> settings) and its default_profile; checked for unknown names."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read profiles file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"profiles file {path} is not valid TOML: {exc}") from None
    unknown_top = set(data) - {"profiles", "default_profile"}
    if unknown_top:
        raise ConfigError(f"profiles file {path}: unknown top-level entries {', '.join(sorted(unknown_top))} "
                          "(expected default_profile and [profiles.NAME] tables)")
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise ConfigError(f"profiles file {path}: profiles must be tables, [profiles.NAME]")
    for name, values in profiles.items():
        for key, value in values.items():
            if key not in PROFILE_KEYS:
                raise ConfigError(f"profile {name} in {path}: unknown setting {key!r} "
                                  f"(known: {', '.join(PROFILE_KEYS)})")
            if not isinstance(value, str):
                raise ConfigError(f"profile {name} in {path}: {key} must be a string")
    default = data.get("default_profile")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"profiles file {path}: default_profile must be a string")
    return profiles, default


def _no_key_to_a_stranger(config: Config, path: Path | None, profile: Setting | None, cwd: Path | None) -> None:
    """A key of yours (flag or environment) is never sent to a URL that a project's profiles file chose for
    you: a cloned repository's ./.ledgerbridge/profiles.toml could otherwise point your key at its server.
    Name the profile (--profile), or give the URL too."""
    url, key = config.settings.get("url"), config.settings.get("key")
    if url is None or key is None or profile is not None or path is None:
        return
    local = (cwd or Path.cwd()) / ".ledgerbridge" / "profiles.toml"
    from_project_file = url.origin.startswith("profile ") and path.resolve() == local.resolve()
    key_given = not key.origin.startswith("profile ")
    if from_project_file and key_given:
        raise ConfigError(f"the hub URL {url.value} comes from {path} (this folder's profiles file) but the key "
                          f"from {key.origin}: choose the profile with --profile, or give the URL with --url")


def resolve(*, url: Setting | None = None, key: Setting | None = None, profile: Setting | None = None,
            config_file: Setting | None = None, cwd: Path | None = None,
            environ: Mapping[str, str] | None = None) -> Config:
    """The settings in force: ``url`` and ``key`` as given on the command line or in the environment
    (None: not given), over the chosen profile's."""
    path = find_profiles_file(config_file, cwd=cwd, environ=environ)
    config = Config(path=path)
    if path is not None:
        profiles, default = read_profiles(path)
        config.available_profiles = sorted(profiles)
        name = profile.value if profile else default or ("default" if "default" in profiles else None)
        if name is not None:
            if name not in profiles:
                origin = profile.origin if profile else "default_profile"
                raise ConfigError(f"no profile {name!r} (from {origin}) in {path}; "
                                  f"it has: {', '.join(sorted(profiles)) or 'none'}")
            config.profile = name
            origin = f"profile {name} ({path})"
            config.settings = {k: Setting(v, origin) for k, v in profiles[name].items() if v != ""}
    elif profile is not None:
        raise ConfigError(f"profile {profile.value!r} (from {profile.origin}) asked for, but there is no profiles "
                          f"file: pass --config or set {CONFIG_ENV}, or create ./.ledgerbridge/profiles.toml "
                          "or ~/.config/ledgerbridge/profiles.toml")
    for name, given in (("url", url), ("key", key)):
        if given is not None and given.value != "":
            config.settings[name] = given
    _no_key_to_a_stranger(config, path, profile, cwd)
    if config.url:
        value = config.url.rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ConfigError(f"hub URL {value!r} (from {config.settings['url'].origin}) must start with "
                              "http:// or https://")
        config.settings["url"] = Setting(value, config.settings["url"].origin)
    return config
