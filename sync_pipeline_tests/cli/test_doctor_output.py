"""What `doctor` prints about secrets: masked by default, quoted for the shell."""

import shlex

from sqlalchemy.engine import make_url

from sync_pipeline.doctor import env_exports, mask_url_credentials
from sync_pipeline_tests.cli.test_cli_errors import run_cli


def test_env_exports_mask_the_database_password_unless_asked_and_quote_for_the_shell():
    variables = {
        "DAGSTER_HOME": "/home/me/it's here",
        "SYNC_DATABASE_URL": "postgresql://me:pa ss'$x@db:5432/sync",
    }
    masked = env_exports(variables)
    assert not any("pa ss" in line for line in masked)
    assert masked[0] == "export DAGSTER_HOME=" + shlex.quote("/home/me/it's here")
    assert shlex.split(masked[0]) == ["export", "DAGSTER_HOME=/home/me/it's here"]
    assert shlex.split(masked[1]) == [
        "export",
        "SYNC_DATABASE_URL=postgresql://me:***@db:5432/sync",
    ]
    assert "--show-secrets" in masked[2]
    shown = env_exports(variables, show_secrets=True)
    assert len(shown) == 2
    assert shlex.split(shown[1]) == [
        "export",
        "SYNC_DATABASE_URL=postgresql://me:pa ss'$x@db:5432/sync",
    ]
    without_password = env_exports({"SYNC_DATABASE_URL": "postgresql://me@db/sync"})
    assert without_password == ["export SYNC_DATABASE_URL=postgresql://me@db/sync"]


def test_upstream_urls_with_credentials_are_masked():
    assert (
        mask_url_credentials("https://bot:hunter2@api.example/v1")
        == "https://bot:***@api.example/v1"
    )
    assert (
        mask_url_credentials("https://api.example/v1?api_key=hunter2&region=eu")
        == "https://api.example/v1?api_key=***&region=eu"
    )
    assert mask_url_credentials("http://127.0.0.1:8700") == "http://127.0.0.1:8700"
    assert mask_url_credentials("https://bot@api.example") == "https://bot@api.example"


def test_doctor_env_masks_the_password_and_show_secrets_prints_it(empty_db_url):
    with_password = (
        make_url(empty_db_url.raw).set(password="hunter2").render_as_string(hide_password=False)
    )
    upstream = "http://bot:upstream-pw@127.0.0.1:9"
    masked = run_cli("doctor", "--env", env={"SYNC_DATABASE_URL": with_password})
    assert masked.returncode == 0, masked.stderr
    assert "hunter2" not in masked.stdout + masked.stderr and "SYNC_DATABASE_URL=" in masked.stdout
    shown = run_cli("doctor", "--env", "--show-secrets", env={"SYNC_DATABASE_URL": with_password})
    assert shown.returncode == 0 and "hunter2" in shown.stdout
    report = run_cli(
        "doctor", env={"SYNC_DATABASE_URL": with_password, "SYNC_CARS_API_URL": upstream}
    )
    assert (
        "upstream-pw" not in report.stdout + report.stderr
        and "bot:***@127.0.0.1:9" in report.stdout
    )
    slack = "https://hook:slack-pw@slack.example/api/?token=slack-token"
    report = run_cli(
        "doctor", env={"SYNC_DATABASE_URL": with_password, "SLACK_API_BASE_URL": slack}
    )
    printed = report.stdout + report.stderr
    assert "slack-pw" not in printed and "slack-token" not in printed
    assert "https://hook:***@slack.example/api/?token=***" in report.stdout
