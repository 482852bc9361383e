"""--config / --preset: loading, secrets from files and environment, errors naming file and key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgconf.auth import SigningKey
from imgconf.auth.keys import private_pem
from imgconf.cli import app
from imgconf.config import ConfigError, load_preset
from smart_support import SmartTarget, start_smart_target
from suite_roots import BUNDLED


@pytest.fixture()
def pem(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "client.pem"
    path.parent.mkdir()
    path.write_bytes(private_pem(SigningKey.generate("ES384")))
    return path


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_preset_with_relative_key_file(tmp_path: Path, pem: Path) -> None:
    cfg = write(tmp_path, "imgconf.toml", """
default_preset = "b"
[presets.a]
url = "https://a.example/fhir"
[presets.b]
url = "https://b.example/r4"
edition = "eu-api-current"
read_only = true
timeout = 12.5
verify_tls = false
[presets.b.auth]
client_id = "vendor-b"
key_file = "keys/client.pem"
kid = "b-1"
token_url = "https://auth.b.example/token"
scopes = ["system/Patient.rs", "system/DocumentReference.rs"]
""")
    preset = load_preset(cfg)
    assert (preset.name, preset.url, preset.edition, preset.read_only, preset.timeout, preset.verify_tls) == (
        "b", "https://b.example/r4", "eu-api-current", True, 12.5, False)
    assert preset.auth is not None and preset.auth.client_id == "vendor-b"
    assert preset.auth.key().kid == "b-1" and preset.auth.key().alg == "ES384"
    assert preset.auth.scopes == ("system/Patient.rs", "system/DocumentReference.rs")
    assert preset.auth.token_url == "https://auth.b.example/token"
    assert "PRIVATE" not in repr(preset) and "private_key" not in repr(preset.auth)
    assert load_preset(cfg, "a").auth is None


def test_yaml_preset_with_secrets_from_environment(tmp_path: Path, pem: Path) -> None:
    cfg = write(tmp_path, "imgconf.yaml", """
presets:
  vendor:
    url: https://v.example/fhir
    auth: {client_id_env: V_CLIENT, key_env: V_KEY}
""")
    preset = load_preset(cfg, env={"V_CLIENT": "from-env", "V_KEY": pem.read_text()})
    assert preset.auth.client_id == "from-env" and preset.auth.scopes[0] == "system/Patient.rs"  # SMART-024 default
    file_cfg = write(tmp_path, "file.yaml", "presets:\n  v:\n    auth: {client_id: c, key_file_env: V_KEY_FILE}\n")
    assert load_preset(file_cfg, env={"V_KEY_FILE": str(pem)}).auth.key().alg == "ES384"


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("[presets.x]\nurll = 'https://x'\n", "presets.x.urll", "unknown key"),
        ("[presets.x]\nurl = 'ftp://x'\n", "presets.x.url", "not an http(s) URL"),
        ("[presets.x]\nedition = 'eu-2030'\n", "presets.x.edition", "not an edition"),
        ("[presets.x]\ntimeout = 'fast'\n", "presets.x.timeout", "expected a number"),
        ("[presets.x]\nread_only = 'yes'\n", "presets.x.read_only", "expected true or false"),
        ("[presets.x.auth]\nkey_file = 'k.pem'\n", "presets.x.auth.client_id", "missing"),
        ("[presets.x.auth]\nclient_id = 'c'\n", "presets.x.auth.key_file", "exactly one of"),
        ("[presets.x.auth]\nclient_id = 'c'\nkey_file = 'missing.pem'\n", "presets.x.auth.key_file", "cannot read key file"),
        ("[presets.x.auth]\nclient_id_env = 'NOPE_NOT_SET'\nkey_file = 'k.pem'\n", "presets.x.auth.client_id_env", "NOPE_NOT_SET is not set"),
        ("[presets.x.auth]\nclient_id = 'c'\nkey_file = 'k.pem'\nalg = 'HS256'\n", "presets.x.auth.alg", "not supported"),
        ("[presets.x.auth]\nclient_id = 'c'\nkey_file = 'k.pem'\nsecret = 's'\n", "presets.x.auth.secret", "unknown key"),
        ("[presets.a]\n[presets.b]\n", "presets", "choose one with --preset"),
        ("presets = 3\n", "presets", "needs a 'presets' table"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    cfg = write(tmp_path, "bad.toml", text)
    with pytest.raises(ConfigError) as err:
        load_preset(cfg, env={})
    assert str(err.value).startswith(f"{cfg}: {key}: ") and words in str(err.value)


def test_wrong_key_type_and_public_only_jwks(tmp_path: Path) -> None:
    p256 = write(tmp_path, "p256.pem", "")
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import serialization

    p256.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cfg = write(tmp_path, "c.toml", "[presets.x.auth]\nclient_id = 'c'\nkey_file = 'p256.pem'\n")
    with pytest.raises(ConfigError, match=r"presets\.x\.auth\.key_file: .*P-384"):
        load_preset(cfg)
    public = SigningKey.generate("RS384", kid="pub").public_jwk()
    write(tmp_path, "public.jwks", json.dumps({"keys": [public]}))
    cfg = write(tmp_path, "d.toml", "[presets.x.auth]\nclient_id = 'c'\nkey_file = 'public.jwks'\n")
    with pytest.raises(ConfigError, match="no private key"):
        load_preset(cfg)


def test_cli_run_stops_on_a_bad_config(tmp_path: Path) -> None:
    cfg = write(tmp_path, "bad.toml", "[presets.x]\nurll = 'https://x'\n")
    result = CliRunner().invoke(app, ["run", "--config", str(cfg), "--reports-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "presets.x.urll" in result.output and "bad.toml" in result.output


@pytest.fixture()
def target(tmp_path: Path) -> Iterator[SmartTarget]:
    t = start_smart_target(tmp_path / "keys")
    try:
        yield t
    finally:
        t.server.stop()


@pytest.mark.slow  # two pytest processes
def test_preset_selects_target_and_auth_in_pytest(pytester: pytest.Pytester, target: SmartTarget) -> None:
    from imgconf.paths import suites_dir

    cfg = target.write_config(pytester.path / "imgconf.toml", target.base_url)
    cfg.write_text(cfg.read_text().replace("[presets.target.auth]", 'edition = "eu-api-current"\n[presets.target.auth]'))
    result = pytester.runpytest_subprocess(*BUNDLED, str(suites_dir() / "smart" / "discovery.yaml"), "--imgconf-config", str(cfg), "-p", "no:cacheprovider")
    data = json.loads((pytester.path / "reports" / "summary.json").read_text())
    assert result.ret == 0
    assert data["run"]["target_url"] == target.base_url and data["run"]["edition"] == "eu-api-current"
    bad = pytester.runpytest_subprocess(*BUNDLED, str(suites_dir() / "smart" / "discovery.yaml"), "--imgconf-config", str(cfg), "--imgconf-preset", "nope")
    assert bad.ret == 4 and "presets.nope: no such preset" in bad.stderr.str()
