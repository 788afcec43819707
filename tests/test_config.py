"""Configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Config


def test_defaults_run_locally_on_the_sandbox() -> None:
    config = Config.from_env({})
    assert config.graph_mode == "sandbox"
    assert config.authenticated is False
    assert config.host == "127.0.0.1"  # unauthenticated: loopback only
    assert config.port == 3978
    assert config.graph_endpoint == "https://graph.microsoft.com"
    assert config.authority_host == "https://login.microsoftonline.com"


def test_tenant_mode_and_graph_credentials_default_to_the_bot_app() -> None:
    config = Config.from_env({"MicrosoftAppId": "app-id", "MicrosoftAppPassword": "s3cret",
                              "MicrosoftAppType": "SingleTenant", "MicrosoftAppTenantId": "tid",
                              "GRAPH_TENANT_ID": "contoso-tenant", "PORT": "8080", "DATA_DIR": "/var/roombot",
                              "GRAPH_ENDPOINT": "https://graph.example/", "BOT_ADMINS": " Admin@Contoso.com , aad-1 "})
    assert config.graph_mode == "tenant"
    assert (config.graph_client_id, config.graph_client_secret) == ("app-id", "s3cret")
    assert config.host == "0.0.0.0" and config.port == 8080 and config.data_dir == Path("/var/roombot")
    assert config.graph_endpoint == "https://graph.example" and config.graph_scope == "https://graph.example/.default"
    assert config.bot_admins == ("admin@contoso.com", "aad-1")
    assert (config.app_type, config.app_tenant_id) == ("SingleTenant", "tid")


def test_explicit_graph_credentials_and_ca_bundle_win() -> None:
    config = Config.from_env({"MicrosoftAppId": "bot", "MicrosoftAppPassword": "bot-secret",
                              "GRAPH_CLIENT_ID": "graph-app", "GRAPH_CLIENT_SECRET": "graph-secret",
                              "SSL_CERT_FILE": "/etc/ssl/corp.pem"})
    assert (config.graph_client_id, config.graph_client_secret) == ("graph-app", "graph-secret")
    assert config.ca_file == "/etc/ssl/corp.pem"
    assert Config.from_env({"SSL_CERT_FILE": "/a.pem", "REQUESTS_CA_BUNDLE": "/b.pem"}).ca_file == "/b.pem"


def test_secrets_stay_out_of_repr() -> None:
    config = Config.from_env({"MicrosoftAppPassword": "top-secret", "GRAPH_CLIENT_SECRET": "graph-secret"})
    assert "top-secret" not in repr(config) and "graph-secret" not in repr(config)


def test_public_url_time_zone_and_sandbox_setup() -> None:
    local = Config.from_env({"PORT": "4000"})
    assert local.base_url == "http://127.0.0.1:4000" and local.sandbox_demo is True
    assert local.default_timezone == "UTC"
    hosted = Config.from_env({"BOT_DOMAIN": "roombot.contoso.com", "SANDBOX_DEMO_SETUP": "0",
                              "DEFAULT_TIMEZONE": "Europe/Helsinki"})
    assert hosted.base_url == "https://roombot.contoso.com" and hosted.sandbox_demo is False
    assert hosted.default_timezone == "Europe/Helsinki"
    assert Config.from_env({"PUBLIC_URL": "https://bot.example/", "BOT_DOMAIN": "x"}).base_url == "https://bot.example"
    with pytest.raises(ValueError, match="DEFAULT_TIMEZONE"):
        Config.from_env({"DEFAULT_TIMEZONE": "Mars/Olympus"})
    for folder in ("Europe", "posixrules"):  # a folder, or a file, of the tz database: not zones
        with pytest.raises(ValueError, match="DEFAULT_TIMEZONE"):
            Config.from_env({"DEFAULT_TIMEZONE": folder})


def test_an_unauthenticated_start_must_be_asked_for_and_stay_on_loopback() -> None:
    local = Config.from_env({})
    assert "MicrosoftAppId is not set" in local.startup_problem(local=False)
    assert local.startup_problem(local=True) is None
    exposed = Config.from_env({"HOST": "0.0.0.0"})
    assert "loopback only" in exposed.startup_problem(local=True)
    production = Config.from_env({"MicrosoftAppId": "app-id", "MicrosoftAppPassword": "s3cret"})
    assert production.startup_problem(local=False) is None


def test_audit_retention_and_booking_archive_periods() -> None:
    assert (Config.from_env({}).audit_retention_days, Config.from_env({}).booking_archive_days) == (90, 30)
    config = Config.from_env({"AUDIT_RETENTION_DAYS": "400", "BOOKING_ARCHIVE_DAYS": "7"})
    assert (config.audit_retention_days, config.booking_archive_days) == (400, 7)
    with pytest.raises(ValueError, match="AUDIT_RETENTION_DAYS"):
        Config.from_env({"AUDIT_RETENTION_DAYS": "0"})
def test_allowed_channels_default_to_teams() -> None:
    assert Config.from_env({}).allowed_channels == ("msteams",)
    assert Config.from_env({"ALLOWED_CHANNELS": " msteams, WebChat ,"}).allowed_channels == ("msteams", "webchat")
def test_understanding_workers_and_deadline() -> None:
    defaults = Config.from_env({})
    assert (defaults.understanding_workers, defaults.understanding_deadline_s) == (2, 2.0)
    config = Config.from_env({"UNDERSTANDING_WORKERS": "1", "UNDERSTANDING_DEADLINE_S": "0.5"})
    assert (config.understanding_workers, config.understanding_deadline_s) == (1, 0.5)
