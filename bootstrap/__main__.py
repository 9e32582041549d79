"""The CI identity of one aidlc-auth stack: GitHub's OIDC provider, the preview and deploy roles, and the
permissions boundary every role of the main stack carries (components/github_oidc.py, docs/infra.md#ci-identity).

Its own program and state, so that nothing the main stack's config says, and nothing CI runs, can delete or
widen the roles CI runs as. Every resource here is protected; the program refuses to run without its settings.
"""

import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's `components` package

from components.config import guard_stack_file, load_ci_identity_config
from components.github_oidc import GithubOidc, GithubOidcArgs

guard_stack_file(Path(__file__).parent)
config = load_ci_identity_config()
identity = GithubOidc(
    f"{config.name_prefix}-github",
    GithubOidcArgs(
        name_prefix=config.name_prefix,
        settings=config.github,
        account_id=aws.get_caller_identity_output().account_id,
        region=config.region,
    ),
)

pulumi.export("github_deploy_role_arn", identity.deploy_role.arn)
pulumi.export("github_preview_role_arn", identity.preview_role.arn)
pulumi.export("permissions_boundary_arn", identity.permissions_boundary.arn)
