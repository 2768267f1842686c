"""Argo CD history and rollback through the real adapter (requests) against a local fake Argo CD."""

import socket

import pytest

from portal.integrations.argocd import (
    ArgoCDError,
    ArgoCDNotFound,
    ArgoCDUnauthorized,
    ArgoCDUnavailable,
    ArgoRevision,
    argo_history,
    argo_rollback,
    argo_token,
)

REVISIONS = ["1111111aaaa", "2222222bbbb", "3333333cccc"]


@pytest.fixture
def payments_app(fake_argocd):
    return fake_argocd.add_application("payments-api", revisions=REVISIONS)


def test_history_lists_each_deployment_with_the_live_one_marked(fake_argocd, payments_app):
    history = argo_history(
        base_url=fake_argocd.base_url, token=fake_argocd.token, application="payments-api"
    )

    assert history == [
        ArgoRevision(0, "1111111aaaa", "2026-11-30T09:00:00Z", current=False),
        ArgoRevision(1, "2222222bbbb", "2026-11-30T09:10:00Z", current=False),
        ArgoRevision(2, "3333333cccc", "2026-11-30T09:20:00Z", current=True),
    ]
    (request,) = fake_argocd.called("GET", "/api/v1/applications/payments-api")
    assert request.authorized


def test_rollback_deploys_the_chosen_entry_again(fake_argocd, payments_app):
    result = argo_rollback(
        base_url=fake_argocd.base_url,
        token=fake_argocd.token,
        application="payments-api",
        history_id=1,
    )

    assert result["revision"] == "2222222bbbb"
    assert result["history_id"] == 1
    (request,) = fake_argocd.called("POST", "/api/v1/applications/payments-api/rollback")
    assert request.body == {"id": 1, "prune": False}
    history = argo_history(
        base_url=fake_argocd.base_url, token=fake_argocd.token, application="payments-api"
    )
    assert history[-1].revision == "2222222bbbb"
    assert history[-1].current
    assert [entry.id for entry in history] == [0, 1, 2, 3]


def test_rollback_is_refused_while_auto_sync_is_on(fake_argocd):
    fake_argocd.add_application(
        "payments-api", revisions=REVISIONS, automated={"prune": True, "selfHeal": True}
    )

    with pytest.raises(ArgoCDError) as refused:
        argo_rollback(
            base_url=fake_argocd.base_url,
            token=fake_argocd.token,
            application="payments-api",
            history_id=1,
        )

    assert "rollback cannot be initiated when auto-sync is enabled" in str(refused.value)
    assert refused.value.status == 400
    assert not isinstance(refused.value, ArgoCDUnavailable | ArgoCDUnauthorized)
    assert fake_argocd.applications["payments-api"].sync_revision == "3333333cccc"


def test_rollback_to_an_unknown_history_id_is_refused_with_argos_message(fake_argocd, payments_app):
    with pytest.raises(ArgoCDError) as refused:
        argo_rollback(
            base_url=fake_argocd.base_url,
            token=fake_argocd.token,
            application="payments-api",
            history_id=42,
        )

    assert str(refused.value) == "application payments-api does not have deployment with id 42"
    assert len(payments_app.history) == 3


def test_a_bad_token_is_unauthorized_and_never_shown(fake_argocd, payments_app):
    wrong = "not-the-token-s3cr3t"

    with pytest.raises(ArgoCDUnauthorized) as rejected:
        argo_history(base_url=fake_argocd.base_url, token=wrong, application="payments-api")

    assert rejected.value.status == 401
    assert wrong not in str(rejected.value)
    assert "invalid session" in str(rejected.value)


def test_an_unknown_application_is_denied_without_a_project_and_missing_with_one(fake_argocd):
    with pytest.raises(ArgoCDUnauthorized) as denied:
        argo_history(base_url=fake_argocd.base_url, token=fake_argocd.token, application="nope")
    assert denied.value.status == 403
    assert "does not exist" in str(denied.value)

    with pytest.raises(ArgoCDNotFound):
        argo_history(
            base_url=fake_argocd.base_url,
            token=fake_argocd.token,
            application="nope",
            project="default",
        )


def test_an_unreachable_argo_cd_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on that port once the probe is closed.

    with pytest.raises(ArgoCDUnavailable) as unreachable:
        argo_history(
            base_url=f"http://127.0.0.1:{port}", token="t0ken-value", application="payments-api"
        )

    assert "t0ken-value" not in str(unreachable.value)


def test_a_server_error_is_unavailable(fake_argocd, payments_app):
    fake_argocd.fail_next(503, "the repo server is down")

    with pytest.raises(ArgoCDUnavailable) as failed:
        argo_history(
            base_url=fake_argocd.base_url, token=fake_argocd.token, application="payments-api"
        )

    assert failed.value.status == 503


def test_token_comes_from_the_environment_then_from_a_file(fake_argocd, tmp_path, monkeypatch):
    token_file = tmp_path / "argocd-token"
    token_file.write_text("file-token\n")

    assert (
        argo_token(env_name=fake_argocd.token_env, file_path=str(token_file)) == "argocd-test-token"
    )
    monkeypatch.delenv(fake_argocd.token_env)
    assert argo_token(env_name=fake_argocd.token_env, file_path=str(token_file)) == "file-token"


def test_a_missing_token_says_where_it_was_looked_for(monkeypatch, tmp_path):
    monkeypatch.delenv("ARGOCD_TOKEN_FOR_TEST", raising=False)

    with pytest.raises(ArgoCDUnauthorized) as missing:
        argo_token(env_name="ARGOCD_TOKEN_FOR_TEST", file_path=str(tmp_path / "absent"))

    assert str(tmp_path / "absent") in str(missing.value)
