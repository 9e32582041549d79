"""Optional: the GitHub Actions OIDC provider and the two roles CI assumes (off unless `githubOidcEnabled`).

The first `pulumi up` from a laptop creates them; their ARNs (stack outputs) then go into the repository's
variables, and CI never holds a long-lived AWS key.

- The *preview* role (ReadOnlyAccess) is trusted by this repository's pull requests only.
- The *deploy* role is trusted by this repository's main branch and its `staging` environment only (exact
  `sub` claims, no wildcards), and may manage what this stack is made of. It can create and change IAM roles
  whose names start with the stack prefix, so treat it as powerful as the stack itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

GITHUB_ISSUER_HOST = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"
READ_ONLY_POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"

# Services the stack's resources belong to (network, data, compute, monitoring, auto scaling).
DEPLOY_SERVICES = (
    "ec2", "elasticloadbalancing", "ecs", "ecr", "rds", "elasticache", "secretsmanager", "logs",
    "cloudwatch", "application-autoscaling",
)
IAM_ROLE_ACTIONS = (
    "iam:GetRole", "iam:CreateRole", "iam:DeleteRole", "iam:UpdateRole", "iam:TagRole", "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
    "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
    "iam:ListInstanceProfilesForRole", "iam:PassRole",
)
SERVICE_LINKED_ROLE_SERVICES = (
    "ecs.amazonaws.com", "rds.amazonaws.com", "elasticache.amazonaws.com",
    "elasticloadbalancing.amazonaws.com", "ecs.application-autoscaling.amazonaws.com",
)


@dataclass(frozen=True)
class GithubOidcSettings:
    enabled: bool = False
    repository: str = ""  # "owner/name"
    deploy_branch: str = "main"
    deploy_environment: str = "staging"
    existing_provider_arn: str | None = None  # an account has one provider per URL: reuse it if it exists

    def __post_init__(self) -> None:
        owner, _, repo = self.repository.partition("/")
        if self.enabled and not (owner and repo and "/" not in repo and "*" not in self.repository):
            raise ValueError(f"githubRepository must be 'owner/name', got {self.repository!r}")

    @classmethod
    def from_config(cls, config: pulumi.Config) -> GithubOidcSettings:
        d = cls()
        return cls(
            enabled=bool(config.get_bool("githubOidcEnabled")),
            repository=config.get("githubRepository") or d.repository,
            deploy_branch=config.get("githubDeployBranch") or d.deploy_branch,
            deploy_environment=config.get("githubDeployEnvironment") or pulumi.get_stack(),
            existing_provider_arn=config.get("githubOidcProviderArn"),
        )

    @property
    def pull_request_subject(self) -> str:
        return f"repo:{self.repository}:pull_request"

    @property
    def deploy_subjects(self) -> list[str]:
        return [
            f"repo:{self.repository}:ref:refs/heads/{self.deploy_branch}",
            f"repo:{self.repository}:environment:{self.deploy_environment}",
        ]


@dataclass
class GithubOidcArgs:
    name_prefix: str  # IAM roles this stack creates start with it
    settings: GithubOidcSettings = field(default_factory=GithubOidcSettings)


class GithubOidc(pulumi.ComponentResource):
    provider_arn: pulumi.Output[str]
    preview_role: aws.iam.Role
    deploy_role: aws.iam.Role

    def __init__(self, name: str, args: GithubOidcArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aidlc:github:GithubOidc", name, None, opts)
        self._child = pulumi.ResourceOptions(parent=self)
        s = args.settings
        self.provider_arn = self._oidc_provider_arn(name, s)
        self.preview_role = aws.iam.Role(
            f"{name}-preview",
            description=f"pulumi preview from pull requests of {s.repository}",
            assume_role_policy=trust_policy(self.provider_arn, [s.pull_request_subject]),
            max_session_duration=3600,
            opts=self._child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-preview-read-only", role=self.preview_role.name, policy_arn=READ_ONLY_POLICY_ARN,
            opts=self._child,
        )
        self.deploy_role = aws.iam.Role(
            f"{name}-deploy",
            description=f"pulumi up from {s.repository} ({s.deploy_branch} / {s.deploy_environment})",
            assume_role_policy=trust_policy(self.provider_arn, s.deploy_subjects),
            max_session_duration=3600,
            opts=self._child,
        )
        aws.iam.RolePolicy(
            f"{name}-deploy-stack",
            role=self.deploy_role.id,
            policy=json.dumps(deploy_policy(args.name_prefix)),
            opts=self._child,
        )
        self.register_outputs({
            "provider_arn": self.provider_arn,
            "preview_role_arn": self.preview_role.arn,
            "deploy_role_arn": self.deploy_role.arn,
        })

    def _oidc_provider_arn(self, name: str, s: GithubOidcSettings) -> pulumi.Output[str]:
        if s.existing_provider_arn:
            return pulumi.Output.from_input(s.existing_provider_arn)
        provider = aws.iam.OpenIdConnectProvider(
            f"{name}-provider",
            url=f"https://{GITHUB_ISSUER_HOST}",
            client_id_lists=[STS_AUDIENCE],
            opts=self._child,
        )
        return provider.arn


def trust_policy(provider_arn: pulumi.Input[str], subjects: list[str]) -> pulumi.Output[str]:
    """Web-identity trust for exactly these `sub` claims (StringEquals: no wildcards) and the STS audience."""
    return pulumi.Output.json_dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{GITHUB_ISSUER_HOST}:aud": STS_AUDIENCE,
                    f"{GITHUB_ISSUER_HOST}:sub": subjects,
                },
            },
        }],
    })


def deploy_policy(name_prefix: str) -> dict[str, Any]:
    role_arn = f"arn:aws:iam::*:role/{name_prefix}-*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "StackServices", "Effect": "Allow",
             "Action": [f"{service}:*" for service in DEPLOY_SERVICES], "Resource": "*"},
            {"Sid": "StackRoles", "Effect": "Allow", "Action": list(IAM_ROLE_ACTIONS), "Resource": role_arn},
            {"Sid": "ServiceLinkedRoles", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole",
             "Resource": "*",
             "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLE_SERVICES)}}},
            {"Sid": "WhoAmI", "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
        ],
    }
