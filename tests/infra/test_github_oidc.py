"""The optional GitHub OIDC component: roles trusted only by this repository, no wildcards in `sub`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from component_harness import Recorded, build, of_type

from components.github_oidc import GithubOidc, GithubOidcArgs, GithubOidcSettings

REPO = "acme/aidlc-auth"
ROLE = "aws:iam/role:Role"
PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"


def _build(**settings: Any) -> list[Recorded]:
    args = GithubOidcArgs("auth-staging", GithubOidcSettings(enabled=True, repository=REPO, **settings))
    return build(lambda: GithubOidc("gh", args))


@pytest.fixture(scope="module")
def graph() -> list[Recorded]:
    return _build()


def _trust(graph: list[Recorded], name: str) -> dict[str, Any]:
    (role,) = [r for r in of_type(graph, ROLE) if r.name == name]
    statement: dict[str, Any] = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    return statement


def test_provider_is_githubs_issuer_for_sts(graph: list[Recorded]) -> None:
    (provider,) = of_type(graph, PROVIDER)
    assert provider.inputs["url"] == "https://token.actions.githubusercontent.com"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]


def test_deploy_role_trusts_only_main_and_the_staging_environment(graph: list[Recorded]) -> None:
    statement = _trust(graph, "gh-deploy")
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(":gh-provider")
    conditions = statement["Condition"]
    assert set(conditions) == {"StringEquals"}  # no StringLike: wildcards impossible
    assert conditions["StringEquals"]["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert conditions["StringEquals"]["token.actions.githubusercontent.com:sub"] == [
        f"repo:{REPO}:ref:refs/heads/main",
        f"repo:{REPO}:environment:staging",
    ]


def test_preview_role_trusts_only_pull_requests_and_reads_only(graph: list[Recorded]) -> None:
    subjects = _trust(graph, "gh-preview")["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    assert subjects == [f"repo:{REPO}:pull_request"]
    (attachment,) = of_type(graph, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/ReadOnlyAccess"


def test_deploy_role_manages_only_this_stacks_roles(graph: list[Recorded]) -> None:
    (policy,) = of_type(graph, "aws:iam/rolePolicy:RolePolicy")
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["StackRoles"]["Resource"] == "arn:aws:iam::*:role/auth-staging-*"
    assert "iam:*" not in json.dumps(statements)
    assert statements["ServiceLinkedRoles"]["Condition"]["StringEquals"]["iam:AWSServiceName"]


def test_existing_provider_is_reused_not_created() -> None:
    existing = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    graph = _build(existing_provider_arn=existing)
    assert not of_type(graph, PROVIDER)
    assert _trust(graph, "gh-deploy")["Principal"]["Federated"] == existing


def test_children_are_parented(graph: list[Recorded]) -> None:
    for child in graph:
        if child.typ != "aidlc:github:GithubOidc":
            assert child.parent_types[-1] == "aidlc:github:GithubOidc", child.name


@pytest.mark.parametrize("repository", ["", "acme", "acme/*", "acme/a/b", "/name"])
def test_repository_must_be_owner_slash_name(repository: str) -> None:
    with pytest.raises(ValueError, match="owner/name"):
        GithubOidcSettings(enabled=True, repository=repository)


def test_disabled_by_default() -> None:
    assert GithubOidcSettings().enabled is False
