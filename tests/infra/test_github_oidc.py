"""The CI identity (bootstrap/): who may assume each role, what each may do, statement by statement, and why no
config of either program can delete it."""

from __future__ import annotations

import json
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

import pytest

from components.config import GithubOidcSettings
from scripts.offline_stack import ACCOUNT, REGION, ROOT, Resource, StackGraph, run_offline

REPO = "acme/aidlc-auth"
BOOTSTRAP = ROOT / "bootstrap"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
MANAGED_POLICY = "aws:iam/policy:Policy"
ISSUER = "token.actions.githubusercontent.com"

STACK_ROLES = f"arn:aws:iam::{ACCOUNT}:role/auth-staging-*"
STACK_SECRETS = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:auth-staging-*"
STACK_PARAMETERS = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/auth-staging/*"  # the JWKS: /auth-staging/jwks
DESCRIBE_PARAMETERS = {"Effect": "Allow", "Action": ["ssm:DescribeParameters"], "Resource": "*"}
STACK_REPOSITORIES = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/auth-staging-*"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/auth-staging-permissions-boundary"
DEPLOY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/auth-staging-github-deploy"
PREVIEW_ROLE = f"arn:aws:iam::{ACCOUNT}:role/auth-staging-github-preview"
GITHUB_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"


def bootstrap(**config: str) -> StackGraph:
    settings = {"aidlc-auth-bootstrap:githubRepository": REPO, **config}
    return run_offline(program_dir=BOOTSTRAP, config_overrides=settings)


@pytest.fixture(scope="module")
def identity() -> StackGraph:
    return bootstrap()


def named(graph: StackGraph, typ: str, label: str) -> Resource:
    (found,) = [r for r in graph.of_type(typ) if r.name == f"auth-staging-github-{label}"]
    return found


def trust(graph: StackGraph, label: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(named(graph, ROLE, label).plain["assumeRolePolicy"])["Statement"]
    return statements


def statements(graph: StackGraph, typ: str, label: str) -> dict[str, dict[str, Any]]:
    policy = json.loads(named(graph, typ, label).plain["policy"])
    assert policy["Version"] == "2012-10-17"
    by_sid = {s["Sid"]: {k: v for k, v in s.items() if k != "Sid"} for s in policy["Statement"]}
    assert len(by_sid) == len(policy["Statement"]), "duplicate Sid"
    return by_sid


# ------------------------------------------------------------------------------------------- trust


def test_provider_is_githubs_issuer_for_sts(identity: StackGraph) -> None:
    provider = identity.one(PROVIDER).plain
    assert provider["url"] == f"https://{ISSUER}"
    assert provider["clientIdLists"] == ["sts.amazonaws.com"]


def test_only_a_job_in_the_staging_environment_can_assume_the_deploy_role(identity: StackGraph) -> None:
    provider_arn = identity.one(PROVIDER).state["arn"]
    assert trust(identity, "deploy") == [
        {
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            # StringEquals, one subject: not the main branch outside the environment, no wildcard.
            "Condition": {
                "StringEquals": {
                    f"{ISSUER}:aud": "sts.amazonaws.com",
                    f"{ISSUER}:sub": f"repo:{REPO}:environment:staging",
                }
            },
        }
    ]


def test_only_pull_requests_can_assume_the_preview_role(identity: StackGraph) -> None:
    provider_arn = identity.one(PROVIDER).state["arn"]
    assert trust(identity, "preview") == [
        {
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com", f"{ISSUER}:sub": f"repo:{REPO}:pull_request"}
            },
        }
    ]


def test_existing_provider_is_reused_not_created() -> None:
    graph = bootstrap(**{"aidlc-auth-bootstrap:githubOidcProviderArn": GITHUB_PROVIDER})
    assert not graph.of_type(PROVIDER)
    assert trust(graph, "deploy")[0]["Principal"]["Federated"] == GITHUB_PROVIDER


# ------------------------------------------------------------------------------------------- deploy


def test_deploy_role_policy_statement_by_statement(identity: StackGraph) -> None:
    deploy = statements(identity, ROLE_POLICY, "deploy")
    assert list(deploy) == [
        "StackServices",
        "StackSecrets",
        "StackParameters",
        "DescribeParameterMetadata",
        "EcrLogin",
        "StackRepositories",
        "StackRolesOnlyWithTheBoundary",
        "StackRoleUpkeep",
        "PassStackRolesToEcsTasksOnly",
        "ServiceLinkedRoles",
        "WhoAmI",
        "NeverTheCiIdentity",
        "NeverRemoveABoundary",
    ]
    assert deploy["StackServices"] == {
        "Effect": "Allow",
        "Resource": "*",
        "Action": [
            "ec2:*",
            "elasticloadbalancing:*",
            "ecs:*",
            "rds:*",
            "elasticache:*",
            "logs:*",
            "cloudwatch:*",
            "application-autoscaling:*",
        ],
    }
    assert deploy["StackSecrets"] == {"Effect": "Allow", "Action": ["secretsmanager:*"], "Resource": STACK_SECRETS}
    assert deploy["StackParameters"] == {"Effect": "Allow", "Action": ["ssm:*"], "Resource": STACK_PARAMETERS}
    assert deploy["DescribeParameterMetadata"] == DESCRIBE_PARAMETERS
    assert deploy["EcrLogin"] == {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"}
    assert deploy["StackRepositories"] == {"Effect": "Allow", "Action": ["ecr:*"], "Resource": STACK_REPOSITORIES}
    assert deploy["StackRolesOnlyWithTheBoundary"] == {
        "Effect": "Allow",
        "Action": ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary"],
        "Resource": STACK_ROLES,
        "Condition": {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}},
    }
    # Nothing here grants permissions: those writes carry the boundary condition above.
    assert deploy["StackRoleUpkeep"] == {
        "Effect": "Allow",
        "Resource": STACK_ROLES,
        "Action": [
            "iam:GetRole",
            "iam:DeleteRole",
            "iam:UpdateRole",
            "iam:UpdateRoleDescription",
            "iam:UpdateAssumeRolePolicy",
            "iam:TagRole",
            "iam:UntagRole",
            "iam:ListRoleTags",
            "iam:GetRolePolicy",
            "iam:ListRolePolicies",
            "iam:ListAttachedRolePolicies",
            "iam:ListInstanceProfilesForRole",
        ],
    }
    assert deploy["PassStackRolesToEcsTasksOnly"] == {
        "Effect": "Allow",
        "Action": ["iam:PassRole"],
        "Resource": STACK_ROLES,
        "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
    }
    linked = deploy["ServiceLinkedRoles"]
    assert (linked["Action"], linked["Resource"]) == (["iam:CreateServiceLinkedRole"], "*")
    assert set(linked["Condition"]["StringEquals"]["iam:AWSServiceName"]) == {
        "ecs.amazonaws.com",
        "rds.amazonaws.com",
        "elasticache.amazonaws.com",
        "elasticloadbalancing.amazonaws.com",
        "ecs.application-autoscaling.amazonaws.com",
    }
    assert deploy["WhoAmI"] == {"Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"}
    assert deploy["NeverTheCiIdentity"] == {
        "Effect": "Deny",
        "Resource": [
            DEPLOY_ROLE,
            PREVIEW_ROLE,
            BOUNDARY,
            GITHUB_PROVIDER,
        ],
        "Action": [
            "iam:Create*",
            "iam:Delete*",
            "iam:Put*",
            "iam:Update*",
            "iam:Attach*",
            "iam:Detach*",
            "iam:Tag*",
            "iam:Untag*",
            "iam:Add*",
            "iam:Remove*",
            "iam:SetDefaultPolicyVersion",
            "iam:PassRole",
        ],
    }
    assert deploy["NeverRemoveABoundary"] == {
        "Effect": "Deny",
        "Action": ["iam:DeleteRolePermissionsBoundary"],
        "Resource": "*",
    }
    assert "iam:*" not in json.dumps(deploy) and '"*:*"' not in json.dumps(deploy)


@pytest.mark.parametrize(
    "action",
    [
        "iam:DeleteRole",
        "iam:DeleteRolePolicy",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:UpdateAssumeRolePolicy",
        "iam:UpdateRole",
        "iam:TagRole",
        "iam:PassRole",
        "iam:CreatePolicyVersion",
        "iam:DeletePolicy",
        "iam:SetDefaultPolicyVersion",
        "iam:DeleteOpenIDConnectProvider",
        "iam:UpdateOpenIDConnectProviderThumbprint",
        "iam:AddClientIDToOpenIDConnectProvider",
    ],
)
def test_deploy_role_is_denied_every_write_on_the_ci_identity(identity: StackGraph, action: str) -> None:
    never = statements(identity, ROLE_POLICY, "deploy")["NeverTheCiIdentity"]
    assert any(fnmatchcase(action, pattern) for pattern in never["Action"]), action


# ------------------------------------------------------------------------------------------- preview


def test_preview_role_policy_statement_by_statement(identity: StackGraph) -> None:
    preview = statements(identity, ROLE_POLICY, "preview")
    assert list(preview) == [
        "DescribeStackResources",
        "ReadStackRoles",
        "RefreshStackSecretVersions",
        "ReadStackParameters",
        "DescribeParameterMetadata",
        "WhoAmI",
    ]
    # Descriptions, tags and policies only: no data store (S3, SSM, KMS) and no secret value on `*`.
    assert preview["DescribeStackResources"] == {
        "Effect": "Allow",
        "Resource": "*",
        "Action": [
            "ec2:Describe*",
            "elasticloadbalancing:Describe*",
            "ecs:Describe*",
            "ecs:List*",
            "rds:Describe*",
            "rds:ListTagsForResource",
            "elasticache:Describe*",
            "elasticache:ListTagsForResource",
            "application-autoscaling:Describe*",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:GetDashboard",
            "cloudwatch:ListTagsForResource",
            "logs:DescribeLogGroups",
            "logs:ListTagsForResource",
            "logs:ListTagsLogGroup",
            "ecr:DescribeRepositories",
            "ecr:DescribeImages",
            "ecr:GetLifecyclePolicy",
            "ecr:GetRepositoryPolicy",
            "ecr:ListTagsForResource",
            "ecr:GetAuthorizationToken",
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetResourcePolicy",
        ],
    }
    assert preview["ReadStackRoles"] == {
        "Effect": "Allow",
        "Resource": STACK_ROLES,
        "Action": [
            "iam:GetRole",
            "iam:GetRolePolicy",
            "iam:ListRolePolicies",
            "iam:ListAttachedRolePolicies",
            "iam:ListRoleTags",
        ],
    }
    # Refreshing a SecretVersion reads its value; only this stack's secrets, whose values the state holds anyway.
    assert preview["RefreshStackSecretVersions"] == {
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": STACK_SECRETS,
    }
    # The public JWKS parameter: its value and tags on this stack's parameters only; metadata (no values) on `*`.
    assert preview["ReadStackParameters"] == {
        "Effect": "Allow",
        "Action": ["ssm:GetParameter", "ssm:GetParameters", "ssm:ListTagsForResource"],
        "Resource": STACK_PARAMETERS,
    }
    assert preview["DescribeParameterMetadata"] == DESCRIBE_PARAMETERS
    assert preview["WhoAmI"] == {"Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"}
    assert not identity.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"), "no ReadOnlyAccess"


def test_preview_role_can_refresh_what_the_main_stack_is_made_of(staging: StackGraph, identity: StackGraph) -> None:
    """Every AWS service the main stack uses has describe rights: a refresh reads each of its resources."""
    described = {
        action.split(":")[0]
        for statement in statements(identity, ROLE_POLICY, "preview").values()
        for action in statement["Action"]
    }
    used = {r.typ.split(":")[1].split("/")[0] for r in staging.resources if r.typ.startswith("aws:")}
    aws_service = {
        "ec2": "ec2",
        "vpc": "ec2",
        "lb": "elasticloadbalancing",
        "ecs": "ecs",
        "ecr": "ecr",
        "rds": "rds",
        "elasticache": "elasticache",
        "secretsmanager": "secretsmanager",
        "ssm": "ssm",
        "cloudwatch": "cloudwatch",
        "appautoscaling": "application-autoscaling",
        "iam": "iam",
    }
    assert used <= set(aws_service), used - set(aws_service)
    assert {aws_service[module] for module in used} - {"iam"} <= described
    assert "logs" in described  # aws:cloudwatch/logGroup is a CloudWatch Logs resource


# ------------------------------------------------------------------------------------------- boundary


def test_permissions_boundary_statement_by_statement(identity: StackGraph) -> None:
    boundary = named(identity, MANAGED_POLICY, "permissions-boundary")
    assert boundary.plain["name"] == "auth-staging-permissions-boundary"  # the ARN the main stack's roles name
    assert statements(identity, MANAGED_POLICY, "permissions-boundary") == {
        "EcrLogin": {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        "PullStackImages": {
            "Effect": "Allow",
            "Resource": STACK_REPOSITORIES,
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
        },
        "WriteStackLogs": {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/auth-staging:*",
        },
        "ReadStackSecrets": {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": STACK_SECRETS},
    }


# ------------------------------------------------------------------------------------------- cannot delete itself


def test_every_resource_of_the_ci_identity_is_protected(identity: StackGraph) -> None:
    custom = [r for r in identity.resources if r.custom and not r.typ.startswith("pulumi:providers:")]
    assert {r.typ for r in custom} == {PROVIDER, ROLE, ROLE_POLICY, MANAGED_POLICY}
    assert [r.name for r in custom if not r.protect] == []
    assert {r.plain["name"] for r in identity.of_type(ROLE)} == {
        "auth-staging-github-deploy",
        "auth-staging-github-preview",
    }


def test_bootstrap_without_its_settings_refuses_instead_of_deleting() -> None:
    with pytest.raises(ValueError, match="githubRepository must be 'owner/name'"):
        run_offline(program_dir=BOOTSTRAP)


@pytest.mark.parametrize(
    "config",
    [
        {},  # the committed stack file
        {"aidlc-auth:namePrefix": "auth-staging"},
    ],
)
def test_no_config_of_the_main_stack_creates_or_deletes_the_ci_identity(
    run_stack: Callable[..., StackGraph], config: dict[str, str]
) -> None:
    graph = run_stack(config_overrides=config)
    assert not graph.of_type(PROVIDER) and not graph.of_type(MANAGED_POLICY)
    assert [r.name for r in graph.of_type(ROLE) if "github" in r.name] == []
    assert not [key for key in graph.outputs if key.startswith("github_")]


@pytest.mark.parametrize("key", ["githubOidcEnabled", "githubRepository", "githubOidcProviderArn"])
def test_main_stack_refuses_ci_identity_settings(run_stack: Callable[..., StackGraph], key: str) -> None:
    with pytest.raises(ValueError, match="bootstrap"):
        run_stack(config_overrides={f"aidlc-auth:{key}": "true"})


@pytest.mark.parametrize("repository", ["", "acme", "acme/*", "acme/a/b", "/name"])
def test_repository_must_be_owner_slash_name(repository: str) -> None:
    with pytest.raises(ValueError, match="owner/name"):
        GithubOidcSettings(repository=repository)
