"""The CI identity of a stack: GitHub's OIDC provider, the two roles GitHub Actions assumes, and the permissions
boundary every role of the stack must carry.

It lives in its own small Pulumi program (`bootstrap/`), applied once from a laptop by an account
administrator, never by CI: no config of the main stack can delete or widen the roles CI runs as, and the
deploy role itself is denied every IAM write on them (docs/infra.md#ci-identity).

- The *preview* role is trusted by this repository's pull requests only and reads what `pulumi preview`
  (with refresh) reads: descriptions of the stack's resources, and the values of this stack's own secrets.
- The *deploy* role is trusted only by a job running in the repository's `staging` environment (exact `sub`,
  no wildcards). It manages what the stack is made of; it may create roles only with the boundary attached,
  pass them only to ECS tasks, and never touch the CI identity itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import GithubOidcSettings

GITHUB_ISSUER_HOST = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"
ECS_TASKS_SERVICE = "ecs-tasks.amazonaws.com"

# Services the main stack's resources belong to (network, data, compute, monitoring, auto scaling); secrets
# and images are granted separately, scoped to the stack's names.
DEPLOY_SERVICES = (
    "ec2",
    "elasticloadbalancing",
    "ecs",
    "rds",
    "elasticache",
    "logs",
    "cloudwatch",
    "application-autoscaling",
)
SERVICE_LINKED_ROLE_SERVICES = (
    "ecs.amazonaws.com",
    "rds.amazonaws.com",
    "elasticache.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "ecs.application-autoscaling.amazonaws.com",
)
# IAM writes on a role that can only keep or set the boundary (AWS evaluates iam:PermissionsBoundary on them).
BOUNDED_ROLE_WRITES = (
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:PutRolePermissionsBoundary",
)
STACK_ROLE_UPKEEP = (
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
)
IAM_WRITES = (
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
)
# What `pulumi preview --refresh` reads of the main stack: descriptions, tags and policies, no data.
PREVIEW_DESCRIBE_ACTIONS = (
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
)
STACK_ROLE_READS = (
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:ListRoleTags",
)
STACK_PARAMETER_READS = ("ssm:GetParameter", "ssm:GetParameters", "ssm:ListTagsForResource")
IMAGE_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage")


@dataclass(frozen=True)
class StackScope:
    """Where the main stack lives and what its resources are called: every ARN below is built from it."""

    name_prefix: str  # the main stack's resource names start with it, e.g. "auth-staging"
    account_id: str
    region: str

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if regional else ''}:{self.account_id}:{resource}"

    @property
    def stack_roles(self) -> str:
        return self.arn("iam", f"role/{self.name_prefix}-*", regional=False)

    @property
    def stack_secrets(self) -> str:
        return self.arn("secretsmanager", f"secret:{self.name_prefix}-*")

    @property
    def stack_parameters(self) -> str:
        """The stack's SSM parameters (the public JWKS) live under `/<name prefix>/`."""
        return self.arn("ssm", f"parameter/{self.name_prefix}/*")

    @property
    def stack_repositories(self) -> str:
        return self.arn("ecr", f"repository/{self.name_prefix}-*")

    @property
    def permissions_boundary(self) -> str:
        return permissions_boundary_arn(self.name_prefix, self.account_id)

    def github_role(self, label: str) -> str:
        return self.arn("iam", f"role/{github_role_name(self.name_prefix, label)}", regional=False)

    @property
    def github_provider(self) -> str:
        return self.arn("iam", f"oidc-provider/{GITHUB_ISSUER_HOST}", regional=False)


def github_role_name(name_prefix: str, label: str) -> str:
    return f"{name_prefix}-github-{label}"


def permissions_boundary_name(name_prefix: str) -> str:
    return f"{name_prefix}-permissions-boundary"


def permissions_boundary_arn(name_prefix: str, account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:policy/{permissions_boundary_name(name_prefix)}"


@dataclass(frozen=True)
class GithubOidcArgs:
    name_prefix: str
    settings: GithubOidcSettings
    account_id: pulumi.Input[str]
    region: str


class GithubOidc(pulumi.ComponentResource):
    provider_arn: pulumi.Output[str]
    permissions_boundary: aws.iam.Policy
    preview_role: aws.iam.Role
    deploy_role: aws.iam.Role

    def __init__(self, name: str, args: GithubOidcArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aidlc:github:GithubOidc", name, None, opts)
        # Deleting any of these locks CI out of the account; `pulumi destroy` must be a deliberate two-step act.
        self._protected = pulumi.ResourceOptions(parent=self, protect=True)
        s = args.settings
        scope = pulumi.Output.from_input(args.account_id).apply(
            lambda account: StackScope(args.name_prefix, account, args.region)
        )
        self.provider_arn = self._oidc_provider_arn(name, s)
        self.permissions_boundary = aws.iam.Policy(
            f"{name}-permissions-boundary",
            name=permissions_boundary_name(args.name_prefix),
            description=f"The most any role of {args.name_prefix} may do",
            policy=scope.apply(lambda sc: json.dumps(boundary_policy(sc))),
            opts=self._protected,
        )
        self.preview_role = self._role(
            name,
            "preview",
            args.name_prefix,
            f"pulumi preview from pull requests of {s.repository}",
            trust_policy(self.provider_arn, s.pull_request_subject),
            scope.apply(preview_policy),
        )
        self.deploy_role = self._role(
            name,
            "deploy",
            args.name_prefix,
            f"pulumi up from {s.repository}'s {s.deploy_environment} environment",
            trust_policy(self.provider_arn, s.deploy_subject),
            scope.apply(deploy_policy),
        )
        self.register_outputs(
            {
                "provider_arn": self.provider_arn,
                "permissions_boundary_arn": self.permissions_boundary.arn,
                "preview_role_arn": self.preview_role.arn,
                "deploy_role_arn": self.deploy_role.arn,
            }
        )

    def _role(
        self,
        name: str,
        label: str,
        name_prefix: str,
        description: str,
        trust: pulumi.Output[str],
        permissions: pulumi.Output[dict[str, Any]],
    ) -> aws.iam.Role:
        role = aws.iam.Role(
            f"{name}-{label}",
            name=github_role_name(name_prefix, label),  # a fixed name, so the deploy role's Deny can name it
            description=description,
            assume_role_policy=trust,
            max_session_duration=3600,
            opts=self._protected,
        )
        aws.iam.RolePolicy(
            f"{name}-{label}",
            role=role.id,
            policy=permissions.apply(json.dumps),
            opts=self._protected,
        )
        return role

    def _oidc_provider_arn(self, name: str, s: GithubOidcSettings) -> pulumi.Output[str]:
        if s.existing_provider_arn:
            return pulumi.Output.from_input(s.existing_provider_arn)
        provider = aws.iam.OpenIdConnectProvider(
            f"{name}-provider",
            url=f"https://{GITHUB_ISSUER_HOST}",
            client_id_lists=[STS_AUDIENCE],
            opts=self._protected,
        )
        return provider.arn


def trust_policy(provider_arn: pulumi.Input[str], subject: str) -> pulumi.Output[str]:
    """Web-identity trust for exactly one `sub` claim (StringEquals: no wildcards) and the STS audience."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{GITHUB_ISSUER_HOST}:aud": STS_AUDIENCE,
                            f"{GITHUB_ISSUER_HOST}:sub": subject,
                        },
                    },
                }
            ],
        }
    )


def deploy_policy(scope: StackScope) -> dict[str, Any]:
    bounded = {"StringEquals": {"iam:PermissionsBoundary": scope.permissions_boundary}}
    ci_identity = [
        scope.github_role("deploy"),
        scope.github_role("preview"),
        scope.permissions_boundary,
        scope.github_provider,
    ]
    return _policy(
        _allow("StackServices", [f"{service}:*" for service in DEPLOY_SERVICES], "*"),
        _allow("StackSecrets", ["secretsmanager:*"], scope.stack_secrets),
        _allow("StackParameters", ["ssm:*"], scope.stack_parameters),
        _describe_parameters(),
        _allow("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
        _allow("StackRepositories", ["ecr:*"], scope.stack_repositories),
        _allow("StackRolesOnlyWithTheBoundary", list(BOUNDED_ROLE_WRITES), scope.stack_roles, bounded),
        _allow("StackRoleUpkeep", list(STACK_ROLE_UPKEEP), scope.stack_roles),
        _allow(
            "PassStackRolesToEcsTasksOnly",
            ["iam:PassRole"],
            scope.stack_roles,
            {"StringEquals": {"iam:PassedToService": ECS_TASKS_SERVICE}},
        ),
        _allow(
            "ServiceLinkedRoles",
            ["iam:CreateServiceLinkedRole"],
            "*",
            {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLE_SERVICES)}},
        ),
        _allow("WhoAmI", ["sts:GetCallerIdentity"], "*"),
        _deny("NeverTheCiIdentity", list(IAM_WRITES), ci_identity),
        _deny("NeverRemoveABoundary", ["iam:DeleteRolePermissionsBoundary"], "*"),
    )


def preview_policy(scope: StackScope) -> dict[str, Any]:
    return _policy(
        _allow("DescribeStackResources", list(PREVIEW_DESCRIBE_ACTIONS), "*"),
        _allow("ReadStackRoles", list(STACK_ROLE_READS), scope.stack_roles),
        # Refreshing a SecretVersion reads its value. The preview decrypts the same values from the stack's state
        # anyway (docs/infra.md#who-can-read-the-stacks-secrets); no other secret of the account is readable.
        _allow("RefreshStackSecretVersions", ["secretsmanager:GetSecretValue"], scope.stack_secrets),
        # The stack's parameters hold public keys only; refreshing one reads its value and tags.
        _allow("ReadStackParameters", list(STACK_PARAMETER_READS), scope.stack_parameters),
        _describe_parameters(),
        _allow("WhoAmI", ["sts:GetCallerIdentity"], "*"),
    )


def boundary_policy(scope: StackScope) -> dict[str, Any]:
    """The most any role the main stack creates may ever do: what the ECS execution role needs, nothing else."""
    return _policy(
        _allow("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
        _allow("PullStackImages", list(IMAGE_PULL_ACTIONS), scope.stack_repositories),
        _allow(
            "WriteStackLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            scope.arn("logs", f"log-group:/ecs/{scope.name_prefix}:*"),
        ),
        _allow("ReadStackSecrets", ["secretsmanager:GetSecretValue"], scope.stack_secrets),
    )


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _describe_parameters() -> dict[str, Any]:
    """Reading an SSM parameter's tier and description takes DescribeParameters, which has no resource-level
    permissions: metadata of the account's parameters, never a value."""
    return _allow("DescribeParameterMetadata", ["ssm:DescribeParameters"], "*")


def _allow(
    sid: str, actions: list[str], resource: str | list[str], condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    return _statement(sid, "Allow", actions, resource, condition)


def _deny(sid: str, actions: list[str], resource: str | list[str]) -> dict[str, Any]:
    return _statement(sid, "Deny", actions, resource, None)


def _statement(
    sid: str, effect: str, actions: list[str], resource: str | list[str], condition: dict[str, Any] | None
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": effect, "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement
