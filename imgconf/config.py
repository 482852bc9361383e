"""``--config FILE`` / ``--preset NAME``: named targets for plug-a-thon testers (TOML or YAML).

```toml
default_preset = "vendor-a"

[presets.vendor-a]
url = "https://fhir.vendor-a.example/r4"
edition = "eu-api-current"        # draft-2026-01 | eu-api-current
read_only = true
timeout = 30                      # seconds per request
verify_tls = true

[presets.vendor-a.auth]           # SMART Backend Services (private_key_jwt)
client_id_env = "VENDOR_A_CLIENT_ID"   # or client_id = "..."
key_file = "keys/vendor-a.jwks"        # PEM or JWKS with private keys; relative to this file
# key_file_env = "VENDOR_A_KEY_FILE"   # a path from the environment
# key_env = "VENDOR_A_KEY"             # the PEM/JWKS text itself from the environment
kid = "imgconf-1"                      # required for PEM keys only if the thumbprint is not the kid
alg = "ES384"                          # RS384 | ES384 (default: the key's type)
token_url = "https://auth.vendor-a.example/token"   # overrides discovery
scopes = "system/Patient.rs system/DocumentReference.rs system/Binary.r system/Bundle.r"

[presets.vendor-a.dicomweb]       # the PACS behind the ImagingStudy endpoints (suite dicomweb-crosscheck)
url = "https://pacs.vendor-a.example/dicom-web"   # DICOMweb root; --dicomweb URL wins
token_env = "VENDOR_A_PACS_TOKEN"      # bearer: token_env | token_file
# user = "imgconf"                     # basic: user | user_env, with password_env | password_file
# password_file = "secrets/pacs.pw"
```

The ``dicomweb`` credential is sent to the PACS's origin only (never to the FHIR target or any other host) and
only when the run's DICOMweb URL has that origin; the cross-check only reads from the PACS.

Secrets come from files and environment variables the config names, never from suites; the
config file itself holds no key material. Every error names the file and the key to fix, never a
value that may be a secret (a PEM pasted where a file name or variable name belongs, a URL with a
password); key material is registered as a secret as soon as it is read.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from imgconf import secret_registry
from imgconf.auth.keys import KeyFileError, SigningKey, load_key_file, load_keys
from imgconf.auth.settings import WORKFLOW_SCOPES, AuthSettings
from imgconf.pacs import PacsAccess, basic_header, bearer_header

PRESET_KEYS = {"url", "edition", "read_only", "timeout", "verify_tls", "auth", "description", "dicomweb"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
AUTH_KEYS = {"client_id", "client_id_env", "key_file", "key_file_env", "key_env", "kid", "alg", "token_url", "scopes"}
DICOMWEB_KEYS = {"url", "token_env", "token_file", "user", "user_env", "password_env", "password_file"}


class ConfigError(ValueError):
    """A config file that cannot be used: ``FILE: key.path: what is wrong``."""

    def __init__(self, path: Path, key: str, message: str) -> None:
        self.path, self.key = path, key
        text = f"{path}: {key}: {message}" if key else f"{path}: {message}"
        super().__init__(secret_registry.scrub(text))  # last net: no registered secret in a config error line


@dataclass(frozen=True)
class Preset:
    name: str
    source: Path
    url: str | None = None
    edition: str | None = None
    read_only: bool | None = None
    timeout: float | None = None
    verify_tls: bool | None = None
    auth: AuthSettings | None = None
    dicomweb: PacsAccess | None = None  # the PACS of the cross-check, with its own credentials


def read_config(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read the config file ({exc.strerror})") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(path, "", f"not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("presets"), dict) or not data["presets"]:
        raise ConfigError(path, "presets", "the config needs a 'presets' table with at least one named preset")
    unknown = set(data) - {"presets", "default_preset"}
    if unknown:
        raise ConfigError(path, min(unknown), "unknown top-level key (allowed: presets, default_preset)")
    return data


def load_preset(path: Path, name: str | None = None, env: Mapping[str, str] | None = None) -> Preset:
    """The named preset (or ``default_preset``, or the only one), with its secrets resolved."""
    path = Path(path)
    env = os.environ if env is None else env
    data = read_config(path)
    presets = data["presets"]
    chosen = name or data.get("default_preset") or (next(iter(presets)) if len(presets) == 1 else None)
    if chosen is None:
        raise ConfigError(path, "presets", f"several presets ({', '.join(sorted(presets))}): choose one with --preset NAME")
    if chosen not in presets:
        raise ConfigError(path, f"presets.{chosen}", f"no such preset (known: {', '.join(sorted(presets))})")
    raw = presets[chosen]
    at = f"presets.{chosen}"
    if not isinstance(raw, dict):
        raise ConfigError(path, at, "a preset is a table of settings")
    for key in raw:
        if key not in PRESET_KEYS:
            raise ConfigError(path, f"{at}.{key}", f"unknown key (allowed: {', '.join(sorted(PRESET_KEYS))})")
    url = _typed(path, f"{at}.url", raw.get("url"), str)
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError(path, f"{at}.url", "is not an http(s) URL (the value is not shown)")
    edition = _typed(path, f"{at}.edition", raw.get("edition"), str)
    if edition is not None:
        from imgconf.session import EDITIONS

        if edition not in EDITIONS:
            raise ConfigError(path, f"{at}.edition", f"not an edition (known: {', '.join(sorted(EDITIONS))})")
    timeout = _typed(path, f"{at}.timeout", raw.get("timeout"), (int, float))
    if timeout is not None and timeout <= 0:
        raise ConfigError(path, f"{at}.timeout", "must be a positive number of seconds")
    auth = None
    if raw.get("auth") is not None:
        if not isinstance(raw["auth"], dict):
            raise ConfigError(path, f"{at}.auth", "auth is a table of settings")
        auth = _auth(path, f"{at}.auth", raw["auth"], env, f"{path} preset {chosen}")
    dicomweb = None
    if raw.get("dicomweb") is not None:
        if not isinstance(raw["dicomweb"], dict):
            raise ConfigError(path, f"{at}.dicomweb", "dicomweb is a table of settings (url, token_env, …)")
        dicomweb = _dicomweb(path, f"{at}.dicomweb", raw["dicomweb"], env, f"{path} preset {chosen}")
    return Preset(
        name=chosen, source=path, url=url, edition=edition, dicomweb=dicomweb,
        read_only=_typed(path, f"{at}.read_only", raw.get("read_only"), bool),
        timeout=float(timeout) if timeout is not None else None,
        verify_tls=_typed(path, f"{at}.verify_tls", raw.get("verify_tls"), bool),
        auth=auth,
    )


def _typed(path: Path, key: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError(path, key, f"expected {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(path, key, f"expected {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({"str": "a string", "bool": "true or false", "int": "a number", "float": "a number"}[k.__name__] for k in kinds)


def _from_env(path: Path, key: str, env: Mapping[str, str], var: Any) -> str:
    if not isinstance(var, str) or not _ENV_NAME.fullmatch(var):
        if isinstance(var, str):
            secret_registry.register_pem(var)
        raise ConfigError(path, key, "expected the name of an environment variable (letters, digits, _), "
                          "not its value; the value given is not shown")
    value = env.get(var)
    if not value:
        raise ConfigError(path, key, f"environment variable {var} is not set")
    if key.endswith(".key_env"):
        secret_registry.register(value)
    return value


def _looks_like_secret(value: str) -> bool:
    """Key material or a token pasted where a name or path belongs."""
    return "-----BEGIN" in value or "\n" in value or "{" in value or len(value) > 1024


def _auth(path: Path, at: str, raw: dict[str, Any], env: Mapping[str, str], source: str) -> AuthSettings:
    for key in raw:
        if key not in AUTH_KEYS:
            raise ConfigError(path, f"{at}.{key}", f"unknown key (allowed: {', '.join(sorted(AUTH_KEYS))})")
    if "client_id" in raw:
        client_id = _typed(path, f"{at}.client_id", raw["client_id"], str)
    elif "client_id_env" in raw:
        client_id = _from_env(path, f"{at}.client_id_env", env, raw["client_id_env"])
    else:
        raise ConfigError(path, f"{at}.client_id", "missing (set client_id or client_id_env)")
    kid = _typed(path, f"{at}.kid", raw.get("kid"), str)
    alg = _typed(path, f"{at}.alg", raw.get("alg"), str)
    if alg is not None and alg not in ("RS384", "ES384"):
        raise ConfigError(path, f"{at}.alg", "is not supported (RS384 or ES384)")
    keys = _keys(path, at, raw, env, kid, alg)
    scopes = raw.get("scopes", list(WORKFLOW_SCOPES))
    if isinstance(scopes, str):
        scopes = scopes.split()
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise ConfigError(path, f"{at}.scopes", "expected a space-separated string or a list of scopes")
    token_url = _typed(path, f"{at}.token_url", raw.get("token_url"), str)
    if token_url is not None and not token_url.startswith(("http://", "https://")):
        raise ConfigError(path, f"{at}.token_url", "is not an absolute http(s) URL (the value is not shown)")
    return AuthSettings(client_id=client_id, keys=tuple(keys), scopes=tuple(scopes), token_url=token_url, source=source)


def _keys(path: Path, at: str, raw: dict[str, Any], env: Mapping[str, str], kid: str | None, alg: str | None) -> list[SigningKey]:
    given = [k for k in ("key_file", "key_file_env", "key_env") if k in raw]
    if len(given) != 1:
        raise ConfigError(path, f"{at}.key_file", "set exactly one of key_file, key_file_env, key_env" +
                          (f" (found {', '.join(given)})" if given else ""))
    where = f"{at}.{given[0]}"
    try:
        if given[0] == "key_env":
            text = _from_env(path, where, env, raw["key_env"])
            return load_keys(text.encode(), source=f"environment variable {raw['key_env']}", kid=kid, alg=alg)
        file = raw["key_file"] if given[0] == "key_file" else _from_env(path, where, env, raw["key_file_env"])
        if not isinstance(file, str):
            raise ConfigError(path, where, "expected a file path")
        if _looks_like_secret(file):
            secret_registry.register_pem(file)
            raise ConfigError(path, where, "expected a file path, got what looks like key material (not shown); "
                              "put the key in a file (chmod 600) or use key_env")
        key_path = Path(os.path.expanduser(file))
        if not key_path.is_absolute():
            key_path = path.parent / key_path
        return load_key_file(key_path, kid=kid, alg=alg)
    except KeyFileError as exc:
        raise ConfigError(path, where, str(exc)) from None


def _dicomweb(path: Path, at: str, raw: dict[str, Any], env: Mapping[str, str], source: str) -> PacsAccess:
    """``[presets.NAME.dicomweb]``: url, and a bearer token (token_env | token_file) or Basic credentials
    (user | user_env, with password_env | password_file), or neither. Secrets registered as soon as read."""
    for key in raw:
        if key not in DICOMWEB_KEYS:
            raise ConfigError(path, f"{at}.{key}", f"unknown key (allowed: {', '.join(sorted(DICOMWEB_KEYS))})")
    url = _typed(path, f"{at}.url", raw.get("url"), str)
    if url is None:
        raise ConfigError(path, f"{at}.url", "missing (the DICOMweb root of the PACS, e.g. https://pacs.example.org/dicom-web)")
    if not url.startswith(("http://", "https://")) or "@" in url.partition("://")[2].partition("/")[0]:
        raise ConfigError(path, f"{at}.url", "is not an http(s) URL without credentials (the value is not shown; "
                          "put credentials in token_env/token_file or user + password_env/password_file)")
    token_keys = [k for k in ("token_env", "token_file") if k in raw]
    user_keys = [k for k in ("user", "user_env") if k in raw]
    password_keys = [k for k in ("password_env", "password_file") if k in raw]
    if len(token_keys) > 1 or len(user_keys) > 1 or len(password_keys) > 1 or (token_keys and (user_keys or password_keys)):
        raise ConfigError(path, at, "set one credential: token_env or token_file (bearer), or user/user_env with "
                          "password_env or password_file (basic)")
    if bool(user_keys) != bool(password_keys):
        raise ConfigError(path, f"{at}.{(user_keys or password_keys)[0]}", "basic credentials need a user (user or user_env) "
                          "and a password (password_env or password_file)")
    authorization = None
    if token_keys:
        authorization = bearer_header(_secret(path, f"{at}.{token_keys[0]}", raw[token_keys[0]], env))
    elif user_keys:
        user_key = user_keys[0]
        user = (_typed(path, f"{at}.user", raw["user"], str) if user_key == "user"
                else _from_env(path, f"{at}.user_env", env, raw["user_env"]))
        password = _secret(path, f"{at}.{password_keys[0]}", raw[password_keys[0]], env)
        authorization = basic_header(user, password)
    return PacsAccess.from_url(url, authorization=authorization, source=source)


def _secret(path: Path, key: str, value: Any, env: Mapping[str, str]) -> str:
    """A token or password from an environment variable (``*_env``) or a file (``*_file``, relative to the config)."""
    if key.endswith("_env"):
        secret = _from_env(path, key, env, value)
        secret_registry.register(secret)
        return secret.strip()
    if not isinstance(value, str):
        raise ConfigError(path, key, "expected a file path")
    if _looks_like_secret(value):
        secret_registry.register(value)
        raise ConfigError(path, key, "expected a file path, got what looks like a secret (not shown)")
    file = Path(os.path.expanduser(value))
    if not file.is_absolute():
        file = path.parent / file
    try:
        secret = file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, key, f"cannot read {file} ({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    if not secret:
        raise ConfigError(path, key, f"{file} is empty")
    secret_registry.register(secret)
    return secret


# -- pytest glue (the plugin calls this from pytest_configure) ----------------------------------

def configure_pytest(config: Any) -> Preset | None:
    """Apply ``--imgconf-config/--imgconf-preset`` to the run options a user did not give on the command
    line (a preset wins over the ini file and the defaults)."""
    from imgconf import options

    file = options.get(config, "config")
    name = options.get(config, "preset")
    if not file:
        if name:
            raise ConfigError(Path("(no --imgconf-config)"), "", f"--imgconf-preset {name} needs --imgconf-config FILE")
        return None
    preset = load_preset(Path(file), name)
    dicomweb_root = preset.dicomweb.root if preset.dicomweb else None
    for option, value in (("target", preset.url), ("edition", preset.edition), ("request_timeout", preset.timeout),
                          ("dicomweb", dicomweb_root)):
        if value and not options.given(config, option):
            options.apply(config, option, value)
    if preset.verify_tls is False:
        options.apply(config, "insecure", True)
    if preset.read_only:
        options.apply(config, "read_only", True)
    return preset
