"""Model profiles: the TOML file, environment overrides, CLI overrides, API keys."""

from __future__ import annotations

import os
import re
import sys
import types
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.errors import ModelConfigError, ModelUnavailable
from models.profile import ModelProfile
from models.profiles import default_config_path, get_profile, load_profiles, override, resolve_api_key

FULL = """
[profiles.local-qwen]
model = "Qwen/Qwen2.5-VL-7B-Instruct"
base_url = "http://127.0.0.1:8000/v1"
image_max_pixels = 1003520
image_format = "jpeg"
temperature = 0          # an integer where a float is expected is fine
top_p = 0.9
max_tokens = 256
timeout_s = 30
max_retries = 1
output_convention = "absolute"
extra_headers = { X-Team = "agents" }
extra_body = { top_k = 20, repetition_penalty = 1.05 }

[profiles.onnx-grounder]
backend = "onnx"
model = "/models/grounder.onnx"
providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
"""


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in list(os.environ):
        if variable.startswith("PCAGENT_PROFILE_"):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("PCAGENT_MODELS_FILE", str(tmp_path / "absent.toml"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(text)
    return path


# --- where the file is ---

def test_default_config_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PCAGENT_MODELS_FILE", str(tmp_path / "mine.toml"))
    assert default_config_path() == tmp_path / "mine.toml"
    monkeypatch.delenv("PCAGENT_MODELS_FILE")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_config_path() == tmp_path / "xdg" / "pcagent" / "models.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_config_path() == tmp_path / "home" / ".config" / "pcagent" / "models.toml"


def test_default_path_is_used_when_none_is_given(monkeypatch, tmp_path):
    path = write(tmp_path, '[profiles.a]\nbase_url = "http://h/v1"\n')
    monkeypatch.setenv("PCAGENT_MODELS_FILE", str(path))
    assert list(load_profiles()) == ["a"]


# --- the file ---

def test_a_full_file_loads_with_every_type(tmp_path):
    profiles = load_profiles(write(tmp_path, FULL))
    qwen = profiles["local-qwen"]
    assert qwen == ModelProfile(
        name="local-qwen", model="Qwen/Qwen2.5-VL-7B-Instruct", base_url="http://127.0.0.1:8000/v1",
        image_max_pixels=1003520, image_format="jpeg", temperature=0.0, top_p=0.9, max_tokens=256,
        timeout_s=30.0, max_retries=1, output_convention="absolute", extra_headers={"X-Team": "agents"},
        extra_body={"top_k": 20, "repetition_penalty": 1.05})
    assert isinstance(qwen.timeout_s, float)
    grounder = profiles["onnx-grounder"]
    assert grounder.backend == "onnx" and grounder.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")


def test_a_missing_file_has_no_profiles(tmp_path):
    assert load_profiles(tmp_path / "nothing.toml") == {}


def test_bad_toml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, '[profiles.a]\nmodel = "x"\nbase_url = \n')
    with pytest.raises(ModelConfigError, match=rf"{path}: not valid TOML: .*line 3"):
        load_profiles(path)


@pytest.mark.parametrize("body, words", [
    ('timeout = 5', r"profile 'p': unknown field 'timeout'; fields are backend, model"),
    ('name = "other"', r"unknown field 'name' \(the name is the table's name\)"),
    ('timeout_s = "soon"', r"profile 'p', field 'timeout_s': expected a number, got 'soon'"),
    ('max_tokens = 1.5', r"profile 'p', field 'max_tokens': expected an integer, got 1.5"),
    ('max_retries = true', r"field 'max_retries': expected an integer, got True"),
    ('providers = "CPU"', r"field 'providers': expected a list of strings"),
    ('backend = "pytorch"', r"field 'backend': unknown backend 'pytorch'; one of openai, transformers, onnx"),
    ('image_format = "gif"', r"field 'image_format': 'gif' is not one of png, jpeg"),
    ('output_convention = "pixels"', r"field 'output_convention': 'pixels' is not one of"),
    ('base_url = "localhost:8000/v1"', r"field 'base_url': 'localhost:8000/v1' must start with http"),
    ('top_p = 1.5', r"field 'top_p': must be in \(0, 1\], got 1.5"),
    ('timeout_s = 0', r"field 'timeout_s': must be positive, got 0.0"),
    ('max_retries = -1', r"field 'max_retries': must be 0 or more"),
    ('extra_body = { stream = true }', r"field 'extra_body': may not set 'stream'"),
])
def test_bad_fields_name_file_profile_and_field(tmp_path, body, words):
    path = write(tmp_path, f"[profiles.p]\n{body}\n")
    with pytest.raises(ModelConfigError) as caught:
        load_profiles(path)
    assert str(caught.value).startswith(str(path))
    assert re.search(words, str(caught.value)), str(caught.value)


def test_header_values_are_never_echoed(tmp_path):
    path = write(tmp_path, '[profiles.p]\nextra_headers = { Authorization = ["Bearer sk-secret"] }\n')
    with pytest.raises(ModelConfigError, match="field 'extra_headers': expected a table of strings") as caught:
        load_profiles(path)
    assert "sk-secret" not in str(caught.value)


@pytest.mark.parametrize("text, words", [
    ('model = "x"\n', r"unknown top-level key 'model'"),
    ('profiles = 3\n', r"'profiles' must be a table"),
    ('[profiles]\na = 3\n', r"profile 'a' must be a table"),
])
def test_bad_structure(tmp_path, text, words):
    with pytest.raises(ModelConfigError, match=words):
        load_profiles(write(tmp_path, text))


# --- the environment ---

def test_environment_overrides_convert_types(tmp_path, monkeypatch):
    path = write(tmp_path, FULL)
    monkeypatch.setenv("PCAGENT_PROFILE_LOCAL_QWEN_BASE_URL", "http://gpu-box:8000/v1")
    monkeypatch.setenv("PCAGENT_PROFILE_LOCAL_QWEN_TIMEOUT_S", "5")
    monkeypatch.setenv("PCAGENT_PROFILE_LOCAL_QWEN_MAX_RETRIES", "0")
    monkeypatch.setenv("PCAGENT_PROFILE_LOCAL_QWEN_TEMPERATURE", "none")
    monkeypatch.setenv("PCAGENT_PROFILE_LOCAL_QWEN_API_KEY_ENV", "QWEN_KEY")
    monkeypatch.setenv("PCAGENT_PROFILE_LOCAL_QWEN_EXTRA_BODY", '{"top_k": 1}')
    monkeypatch.setenv("PCAGENT_PROFILE_ONNX_GROUNDER_PROVIDERS", "CPUExecutionProvider, X")
    profiles = load_profiles(path)
    qwen = profiles["local-qwen"]
    assert qwen.base_url == "http://gpu-box:8000/v1" and qwen.timeout_s == 5.0 and qwen.max_retries == 0
    assert qwen.temperature is None and qwen.api_key_env == "QWEN_KEY" and qwen.extra_body == {"top_k": 1}
    assert qwen.model == "Qwen/Qwen2.5-VL-7B-Instruct"  # untouched fields keep the file's values
    assert profiles["onnx-grounder"].providers == ("CPUExecutionProvider", "X")


def test_similar_profile_names_each_get_their_own_variables(tmp_path, monkeypatch):
    path = write(tmp_path, '[profiles.a]\nmax_tokens = 1\n[profiles.a-b]\nmax_tokens = 2\n')
    monkeypatch.setenv("PCAGENT_PROFILE_A_B_MAX_TOKENS", "20")
    monkeypatch.setenv("PCAGENT_PROFILE_A_MAX_TOKENS", "10")
    profiles = load_profiles(path)
    assert (profiles["a"].max_tokens, profiles["a-b"].max_tokens) == (10, 20)


def test_the_environment_alone_can_define_a_profile(monkeypatch):
    monkeypatch.setenv("PCAGENT_PROFILE_CI_PLANNER_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PCAGENT_PROFILE_CI_PLANNER_MODEL", "tiny")
    profile = get_profile("ci_planner")
    assert profile == ModelProfile(name="ci_planner", base_url="http://127.0.0.1:9/v1", model="tiny")


@pytest.mark.parametrize("variable, value, words", [
    ("PCAGENT_PROFILE_P_TIMEOUT_S", "soon", r"PCAGENT_PROFILE_P_TIMEOUT_S: profile 'p', field 'timeout_s': "
                                            r"cannot read 'soon' as float"),
    ("PCAGENT_PROFILE_P_EXTRA_BODY", "{top_k: 1}", r"field 'extra_body': cannot read '\{top_k: 1\}' as JSON"),
    ("PCAGENT_PROFILE_P_EXTRA_HEADERS", "Authorization: sk-x", r"field 'extra_headers': cannot read the value "
                                                            r"as JSON"),  # header values are never echoed
    ("PCAGENT_PROFILE_P_BACKEND", "pytorch", r"PCAGENT_PROFILE_P_BACKEND\): profile 'p', field 'backend'"),
    ("PCAGENT_PROFILE_P_TIMEOUT", "5", r"PCAGENT_PROFILE_P_TIMEOUT: no field of a profile matches"),
])
def test_bad_environment_values_name_the_variable(tmp_path, monkeypatch, variable, value, words):
    path = write(tmp_path, '[profiles.p]\nmodel = "m"\n')
    monkeypatch.setenv(variable, value)
    with pytest.raises(ModelConfigError, match=words):
        load_profiles(path)


@given(st.integers(1, 10**9))
def test_integers_from_the_environment_round_trip(value):
    assert override(ModelProfile(name="p"), image_max_pixels=str(value)).image_max_pixels == value


# --- overrides and lookup ---

def test_override_converts_skips_none_and_checks():
    base = ModelProfile(name="p", base_url="http://h/v1")
    changed = override(base, timeout_s="2.5", max_tokens=99, temperature=None, top_p="0.5")
    assert (changed.timeout_s, changed.max_tokens, changed.temperature, changed.top_p) == (2.5, 99, 0.0, 0.5)
    assert base.timeout_s == 60.0  # a new profile; the original is unchanged
    with pytest.raises(ModelConfigError, match="cannot override unknown field 'colour'"):
        override(base, colour="red")
    with pytest.raises(ModelConfigError, match="field 'max_tokens': must be positive"):
        override(base, max_tokens=0)
    with pytest.raises(ModelConfigError, match="field 'max_tokens': expected an integer"):
        override(base, max_tokens=2.5)


def test_get_profile_applies_overrides_and_names_what_is_known(tmp_path):
    path = write(tmp_path, FULL)
    assert get_profile("local-qwen", path, max_tokens="32").max_tokens == 32
    with pytest.raises(ModelConfigError, match=r"no model profile 'gpt' in .*models.toml "
                                               r"\(known: local-qwen, onnx-grounder\)"):
        get_profile("gpt", path)
    with pytest.raises(ModelConfigError, match=r"\(the file does not exist\).*PCAGENT_PROFILE_GPT_BASE_URL"):
        get_profile("gpt", tmp_path / "none.toml")


# --- API keys ---

def test_api_key_from_the_environment(monkeypatch):
    profile = ModelProfile(name="p", api_key_env="TEST_PROFILE_KEY")
    monkeypatch.delenv("TEST_PROFILE_KEY", raising=False)
    assert resolve_api_key(profile) is None
    monkeypatch.setenv("TEST_PROFILE_KEY", "sk-from-env")
    assert resolve_api_key(profile) == "sk-from-env"
    assert resolve_api_key(ModelProfile(name="p")) is None


def test_keyring_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "keyring", None)  # makes `import keyring` fail
    profile = ModelProfile(name="hosted", api_key_keyring="openai")
    with pytest.raises(ModelUnavailable, match=r"pip install 'pcagent\[keyring\]'"):
        resolve_api_key(profile)


def test_keyring_is_asked_when_the_variable_is_unset(monkeypatch):
    asked = []

    class Credential:
        password = "sk-any-user"

    fake = types.ModuleType("keyring")
    fake.get_password = lambda service, user: asked.append((service, user)) or "sk-from-keyring"
    fake.get_credential = lambda service, user: asked.append((service, user)) or Credential()
    fake.errors = types.ModuleType("keyring.errors")
    fake.errors.KeyringError = type("KeyringError", (Exception,), {})
    monkeypatch.setitem(sys.modules, "keyring", fake)
    monkeypatch.setitem(sys.modules, "keyring.errors", fake.errors)
    monkeypatch.delenv("UNSET_KEY_VAR", raising=False)
    with_user = ModelProfile(name="p", api_key_env="UNSET_KEY_VAR", api_key_keyring="openai:me")
    assert resolve_api_key(with_user) == "sk-from-keyring"
    assert resolve_api_key(ModelProfile(name="p", api_key_keyring="openai")) == "sk-any-user"
    assert asked == [("openai", "me"), ("openai", None)]


def test_to_dict_and_safe_url_hold_no_secret():
    """meta.json stores profile.to_dict(): a key in the URL, token headers and body strings are masked."""
    import json

    from models.profile import safe_url

    profile = ModelProfile(name="p", base_url="https://me:hunter2@api.example.com:8443/v1?key=SEKRIT&region=eu",
                           extra_headers={"X-Api-Token": "TOKEN1", "Cookie": "session=COOKIE1", "Authorization": "B"},
                           extra_body={"api_key": "BODYKEY", "top_k": 20, "nested": {"secret": "NESTED"}})
    stored = json.dumps(profile.to_dict())
    for secret in ("hunter2", "SEKRIT", "TOKEN1", "COOKIE1", "BODYKEY", "NESTED", "me:"):
        assert secret not in stored
    data = profile.to_dict()
    assert data["base_url"] == "https://***@api.example.com:8443/v1?key=***&region=***"
    assert data["extra_headers"] == {"X-Api-Token": "***", "Cookie": "***", "Authorization": "***"}
    assert data["extra_body"] == {"api_key": "***", "top_k": 20, "nested": "***"}
    assert safe_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert safe_url("http://[::1") == "***"
