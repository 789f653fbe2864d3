"""Where the client takes its URL and token from, and what it says when the token is missing."""

from __future__ import annotations

import pickle

import pytest

from bria_pipeline.api import AsyncBriaClient, ConfigError, Secret
from bria_pipeline.api.config import DEFAULT_API_URL, SANDBOX_TOKEN, resolve_config


def test_token_comes_from_bria_api_token_and_url_defaults_to_the_production_root():
    config = resolve_config(environ={"BRIA_API_TOKEN": "tok-env"})
    assert config.token.reveal() == "tok-env"
    assert config.api_url == DEFAULT_API_URL == "https://engine.prod.bria-api.com"


def test_url_precedence_is_argument_then_bria_api_url_then_bria_base_url():
    env = {"BRIA_API_TOKEN": "t", "BRIA_API_URL": "https://a.example", "BRIA_BASE_URL": "https://b.example"}
    assert resolve_config("https://arg.example", environ=env).api_url == "https://arg.example"
    assert resolve_config(environ=env).api_url == "https://a.example"
    del env["BRIA_API_URL"]
    assert resolve_config(environ=env).api_url == "https://b.example"


def test_a_root_given_with_a_version_suffix_is_trimmed_because_each_operation_adds_its_own():
    env = {"BRIA_API_TOKEN": "t"}
    assert resolve_config("https://engine.prod.bria-api.com/v2/", environ=env).api_url == DEFAULT_API_URL
    assert resolve_config("http://127.0.0.1:8080/v1", environ=env).api_url == "http://127.0.0.1:8080"


def test_missing_token_outside_the_sandbox_is_a_config_error_that_says_how_to_fix_it():
    with pytest.raises(ConfigError) as info:
        resolve_config(environ={})
    text = info.value.describe()
    assert "BRIA_API_TOKEN" in text and "--sandbox" in text


def test_a_malformed_api_url_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="ftp://x"):
        resolve_config("ftp://x", environ={"BRIA_API_TOKEN": "t"})


def test_sandbox_mode_never_picks_up_the_real_token_or_url_from_the_environment():
    env = {"BRIA_API_TOKEN": "real-token", "BRIA_API_URL": "https://engine.prod.bria-api.com"}
    config = resolve_config(sandbox=True, environ=env)
    assert config.token.reveal() == SANDBOX_TOKEN
    assert config.api_url == "http://sandbox.local"


def test_sandbox_client_without_transport_or_url_is_refused():
    with pytest.raises(ConfigError, match="sandbox"):
        AsyncBriaClient(sandbox=True)


def test_secret_masks_itself_in_str_repr_format_and_refuses_pickling():
    secret = Secret("tok-123456")
    assert str(secret) == "****" and repr(secret) == "Secret('****')" and f"{secret}" == "****"
    assert "tok-123456" not in repr({"token": secret})
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert secret == Secret("tok-123456") and secret.reveal() == "tok-123456"
    assert secret.redact("header api_token: tok-123456") == "header api_token: ****"


def test_client_repr_shows_the_url_but_not_the_token():
    client = AsyncBriaClient("https://engine.prod.bria-api.com", token="tok-abcdef")
    assert "tok-abcdef" not in repr(client) and "engine.prod.bria-api.com" in repr(client)
