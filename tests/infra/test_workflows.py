"""The GitHub Actions workflows: pinned, least-privileged, OIDC only, and consistent with the roles the stack makes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import GithubOidcSettings
from scripts.offline_stack import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(name: str) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return document


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    on: dict[str, Any] = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    return on


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if s.get("uses", "").startswith(action + "@")]
    return step


def step_by_id(job: dict[str, Any], step_id: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if s.get("id") == step_id]
    return step


@pytest.mark.parametrize("name", ["checks.yml", "pull-request.yml", "deploy.yml"])
def test_least_privilege_and_pinned_actions(name: str) -> None:
    workflow = load(name)
    assert workflow["permissions"] == {}, "no default token permissions at workflow level"
    for job_name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}:{job_name} must declare its permissions"
        assert set(job["permissions"].values()) <= {"read", "write"}
    for step in steps(workflow):
        uses = step.get("uses")
        if uses:
            assert PINNED.match(uses), f"{name}: {uses} is not pinned to a commit SHA"
        if uses and uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
    text = (WORKFLOWS / name).read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text


def test_checks_run_against_postgres_16_and_redis_7() -> None:
    job = load("checks.yml")["jobs"]["test"]
    postgres, redis = job["services"]["postgres"], job["services"]["redis"]
    assert postgres["image"] == "postgres:16" and redis["image"] == "redis:7"
    assert postgres["env"] == {"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": "test"}
    assert (postgres["ports"], redis["ports"]) == (["5432:5432"], ["6379:6379"])
    commands = " ".join(step.get("run", "") for step in job["steps"])
    assert "make test" in commands  # make lint (ruff, import-linter, mypy, hadolint, zizmor), then pytest
    assert "mypy" not in commands  # make lint type-checks every file; a narrower second run only drifts


def test_pull_request_previews_staging_with_the_policy_pack() -> None:
    workflow = load("pull-request.yml")
    assert set(triggers(workflow)) == {"pull_request"}
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == "checks"
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    (pulumi,) = [s["with"] for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert (pulumi["command"], pulumi["policyPacks"], pulumi["comment-on-pr"]) == ("preview", "policy", True)
    aws = step_using(preview, "aws-actions/configure-aws-credentials")["with"]
    assert aws["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"


def test_deploy_runs_tests_first_then_up_then_smoke() -> None:
    workflow = load("deploy.yml")
    on = triggers(workflow)
    assert on["push"] == {"branches": ["main"]}
    assert on["workflow_dispatch"]["inputs"]["ref"]["required"] is True  # redeploy an earlier commit
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == ["release", "checks"]
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    up = step_by_id(deploy, "up")
    assert up["uses"].startswith("pulumi/actions@")
    assert (up["with"]["command"], up["with"]["policyPacks"]) == ("up", "policy")
    smoke = step_by_id(deploy, "smoke")
    # Between them only the check that the service really runs what `up` deployed.
    assert deploy["steps"].index(smoke) == deploy["steps"].index(step_by_id(deploy, "released")) + 1
    assert deploy["steps"].index(smoke) == deploy["steps"].index(up) + 2
    assert smoke["env"] == {"SERVICE_URL": "${{ steps.up.outputs.service_url }}"}
    assert smoke["run"].startswith('python scripts/smoke_test.py "$SERVICE_URL"')


def test_workflows_match_the_subjects_the_oidc_roles_trust() -> None:
    """The deploy role trusts only jobs in the `staging` environment; the preview role trusts pull requests."""
    settings = GithubOidcSettings(repository="acme/aidlc-auth", deploy_environment="staging")
    deploy = load("deploy.yml")["jobs"]["deploy"]
    assert f"repo:acme/aidlc-auth:environment:{deploy['environment']}" == settings.deploy_subject
    assert "pull_request" in triggers(load("pull-request.yml"))
    assert settings.pull_request_subject == "repo:acme/aidlc-auth:pull_request"


def test_one_state_backend_pulumi_cloud() -> None:
    """No self-managed backend anywhere: the workflows log in to Pulumi Cloud with a token, nothing else."""
    for name in ("pull-request.yml", "deploy.yml"):
        text = (WORKFLOWS / name).read_text()
        assert "cloud-url" not in text and "PULUMI_BACKEND_URL" not in text, name
        assert "PULUMI_CONFIG_PASSPHRASE" not in text, name
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["backend"] == {"url": "https://api.pulumi.com"}
    for doc in (ROOT / "README.md", *(ROOT / "docs").glob("*.md")):
        text = doc.read_text()
        assert "s3://" not in text and "PULUMI_BACKEND_URL" not in text and "awskms://" not in text, doc.name


def test_zizmor_reports_nothing() -> None:
    zizmor = Path(sys.executable).parent / "zizmor"
    result = subprocess.run([str(zizmor), "--offline", str(WORKFLOWS)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the deploy path: rollback, no-change preview, pins, and what the docs say about it ------------------------

README = ROOT / "README.md"
OPERATIONS = ROOT / "docs" / "operations.md"
WORKFLOW_NAMES = ("checks.yml", "pull-request.yml", "deploy.yml")


def pulumi_steps() -> list[dict[str, Any]]:
    return [
        step
        for name in WORKFLOW_NAMES
        for step in steps(load(name))
        if step.get("uses", "").startswith("pulumi/actions@")
    ]


def pinned_version(requirements: Path, package: str) -> str:
    (version,) = re.findall(rf"^{re.escape(package)}==([\w.]+)$", requirements.read_text(), re.MULTILINE)
    return version


def test_a_failed_release_rolls_back_to_the_task_definition_recorded_before_up_and_fails() -> None:
    deploy = load("deploy.yml")["jobs"]["deploy"]
    order = [s.get("id") or s.get("name") for s in deploy["steps"]]
    current, before, up = step_by_id(deploy, "current"), step_by_id(deploy, "before"), step_by_id(deploy, "up")
    assert order.index("current") < order.index("before") < order.index("up") < order.index("smoke")
    assert current["with"]["command"] == "output"  # the outputs of the last deploy: cluster and service
    assert before["env"] == {
        "CLUSTER": "${{ steps.current.outputs.cluster_name }}",
        "SERVICE": "${{ steps.current.outputs.service_name }}",
    }
    assert "scripts.deployment serving" in before["run"] and "task-definition=" in before["run"]
    (rollback,) = [s for s in deploy["steps"] if "steps.smoke.outcome == 'failure'" in str(s.get("if", ""))]
    assert rollback["if"].startswith("failure()")  # runs only when the job already failed
    assert order.index(rollback.get("name")) == order.index("smoke") + 1
    assert rollback["env"]["PREVIOUS"] == "${{ steps.before.outputs.task-definition }}"
    script = rollback["run"]
    assert script.index("scripts.deployment rollback") < script.index('scripts/smoke_test.py "$SERVICE_URL"')
    # It served again: its image is a released one (even if it predates the tagging), kept by the lifecycle policy.
    assert script.index('scripts/smoke_test.py "$SERVICE_URL"') < script.index(
        'scripts.deployment mark-released --task-definition "$PREVIOUS"'
    )
    assert script.rstrip().endswith("exit 1")  # the run stays red after a rollback
    assert up["with"]["command"] == "up"


def test_a_successful_deploy_ends_with_a_preview_that_must_show_no_changes() -> None:
    last = load("deploy.yml")["jobs"]["deploy"]["steps"][-1]
    assert last["uses"].startswith("pulumi/actions@")
    assert last["with"]["command"] == "preview"
    assert last["with"]["expect-no-changes"] is True
    assert "if" not in last  # only after every step before it succeeded


def test_the_pulumi_cli_is_pinned_to_the_sdk_version_everywhere() -> None:
    sdk = pinned_version(ROOT / "requirements.txt", "pulumi")
    assert pinned_version(ROOT / "policy" / "requirements.txt", "pulumi") == sdk
    steps_ = pulumi_steps()
    assert len(steps_) == 4  # deploy: output, up, no-change preview; pull request: preview
    assert {step["with"]["pulumi-version"] for step in steps_} == {sdk}
    assert f"Pulumi CLI **{sdk}**" in README.read_text()
    assert f"--version {sdk}" in README.read_text()
    assert f"pulumi-version: {sdk}" in OPERATIONS.read_text()
    assert "PULUMI_VERSION := $(shell sed -n 's/^pulumi==//p' requirements.txt)" in (ROOT / "Makefile").read_text()


# The current major release of each action on 2026-11-25, read from the actions' own tags.
CURRENT_ACTIONS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "aws-actions/configure-aws-credentials": ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
}


def test_every_action_is_its_current_release_pinned_by_sha_with_the_version_as_comment() -> None:
    uses = re.compile(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v[\d.]+)$", re.MULTILINE)
    seen = set()
    for name in WORKFLOW_NAMES:
        text = (WORKFLOWS / name).read_text()
        for action, sha, comment in uses.findall(text):
            assert CURRENT_ACTIONS[action] == (sha, comment), f"{name}: {action}@{sha} # {comment}"
            seen.add(action)
        assert text.count("uses: ") - text.count("uses: ./") == len(uses.findall(text)), name
    assert seen == set(CURRENT_ACTIONS)
    for action, (_, version) in CURRENT_ACTIONS.items():
        assert f"`{action}` {version}" in OPERATIONS.read_text()


def test_dependabot_watches_pip_actions_and_the_base_image() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    watched = {
        (u["package-ecosystem"], d) for u in config["updates"] for d in u.get("directories", [u.get("directory")])
    }
    assert {
        ("pip", "/"),
        ("pip", "/policy"),
        ("pip", "/auth_service"),
        ("github-actions", "/"),
        ("docker", "/auth_service"),
    } <= watched
    assert (ROOT / "auth_service" / "Dockerfile").read_text().count("FROM python:3.11-slim") == 2


def test_checks_install_redis_server_before_the_tests_so_nothing_skips() -> None:
    job = load("checks.yml")["jobs"]["test"]
    runs = [s.get("run", "") for s in job["steps"]]
    (install,) = [i for i, run in enumerate(runs) if "apt-get install" in run]
    assert "redis-server" in runs[install] and "policy-rc.d" in runs[install]  # no second Redis on :6379
    assert install < next(i for i, run in enumerate(runs) if "make test" in run)
    assert "CI=true" in (ROOT / ".ci" / "run").read_text()


def test_checks_build_the_image_and_smoke_test_the_container() -> None:
    job = load("checks.yml")["jobs"]["image"]
    assert job["permissions"] == {"contents": "read"}
    assert job["services"] == load("checks.yml")["jobs"]["test"]["services"]  # PostgreSQL 16 and Redis 7
    runs = [s.get("run", "") for s in job["steps"]]
    build = next(i for i, run in enumerate(runs) if "docker build" in run)
    assert "--platform linux/amd64" in runs[build] and runs[build].endswith("auth_service")
    start = next(i for i, run in enumerate(runs) if "docker run" in run)
    assert "python -m scripts.container_env" in runs[start]  # the task definition's environment
    assert "--read-only" in runs[start] and "--env-file" in runs[start]
    smoke = next(i for i, run in enumerate(runs) if "scripts/smoke_test.py http://127.0.0.1:8000" in run)
    health = next(i for i, run in enumerate(runs) if "docker exec auth python -m auth_service healthcheck" in run)
    assert build < start < smoke < health


def _gh_commands(text: str, kind: str) -> set[tuple[str, bool]]:
    """(name, is_environment_scoped) of every `gh variable|secret set NAME` in a document."""
    found = re.findall(rf"gh {kind} set (\w+)([^\n]*)", text)
    return {(name, "--env staging" in rest) for name, rest in found}


def test_the_readme_checklist_sets_every_variable_and_secret_the_workflows_read() -> None:
    texts = "\n".join((WORKFLOWS / name).read_text() for name in WORKFLOW_NAMES)
    variables = set(re.findall(r"vars\.(\w+)", texts))
    secrets_ = set(re.findall(r"secrets\.(\w+)", texts))
    readme = README.read_text()
    assert {name for name, _ in _gh_commands(readme, "variable")} == variables
    # The deploy job reads its token from the `staging` environment, the preview job from the repository.
    assert _gh_commands(readme, "secret") == {(name, scoped) for name in secrets_ for scoped in (True, False)}
    operations = OPERATIONS.read_text()
    for name in variables | secrets_:
        assert f"`{name}`" in operations, f"docs/operations.md does not list {name}"
    assert load("deploy.yml")["jobs"]["deploy"]["environment"] == "staging"


def test_the_environment_rule_admits_main_only_and_comes_before_its_secret() -> None:
    readme = README.read_text()
    rule = readme.index(
        'gh api --method POST "repos/{owner}/{repo}/environments/staging/deployment-branch-policies"'
        " -f name=main -f type=branch"
    )
    created = readme.index('gh api --method PUT "repos/{owner}/{repo}/environments/staging"')
    assert "deployment_branch_policy[custom_branch_policies]=true" in readme[created:rule]
    assert created < rule < readme.index("gh secret set PULUMI_ACCESS_TOKEN --env staging")
    assert triggers(load("deploy.yml"))["push"] == {"branches": ["main"]}


def test_the_checklist_is_in_the_order_a_person_does_it() -> None:
    readme = README.read_text()
    checklist = readme[readme.index("### Deploy from zero") : readme.index("### Rollback")]
    milestones = [
        "pulumi version",
        "python3 --version",
        "make .venv/.installed-stamp",
        "pulumi login",
        "aws sts get-caller-identity",
        "pulumi stack init staging",
        "config set githubRepository",
        "git add Pulumi.staging.yaml",
        "pulumi -C bootstrap up",
        "make preview",
        "make up",
        "environments/staging",
        "gh variable set",
        "gh secret set",
        "make smoke",
        "Logs**: `make logs`",
        "dashboard_url",
        "make alarms",
        "make destroy",
        "pulumi stack rm staging --preserve-config",
    ]
    parts = re.split(r"^ ?(\d+)\. \*\*", checklist, flags=re.MULTILINE)
    numbers, bodies = [int(n) for n in parts[1::2]], parts[2::2]
    assert numbers == list(range(1, len(numbers) + 1))
    step_of = {m: next(n for n, body in zip(numbers, bodies, strict=True) if m in body) for m in milestones}
    assert list(step_of.values()) == sorted(step_of.values()), step_of
    for survivor in ("final snapshot", "/aws/ecs/containerinsights/", "state and history", "recovery window"):
        assert survivor in checklist
    assert "s3://" not in checklist and "PULUMI_BACKEND_URL" not in readme


def test_nothing_reaches_main_before_the_deploy_workflow_has_its_role_environment_and_variables() -> None:
    """A push to `main` starts the deploy workflow: before steps 9-12 it fails, and its job would create the
    `staging` environment without the `main`-only rule. The stack files go to a setup branch until the hand-over."""
    readme = README.read_text()
    checklist = readme[readme.index("### Deploy from zero") : readme.index("### Rollback")]
    parts = re.split(r"^ ?(\d+)\. \*\*", checklist, flags=re.MULTILINE)
    steps_ = dict(zip((int(n) for n in parts[1::2]), parts[2::2], strict=True))
    ready = max(n for n, body in steps_.items() if "gh secret set" in body or "environments/staging" in body)
    for number, body in steps_.items():
        pushes = re.findall(r"git push[^\n`]*", body)
        if number <= ready:
            assert all(push.strip() == "git push -u origin staging-setup" for push in pushes), (number, pushes)
    (handover,) = [n for n, body in steps_.items() if "Hand over to CI" in body]
    assert handover > ready and "merge `staging-setup` into `main`" in steps_[handover]
    bootstrap = OPERATIONS.read_text().split("### What the repository needs", 1)[1].split("```sh", 1)[1]
    assert re.findall(r"git push[^\n#]*", bootstrap.split("```", 1)[0]) == ["git push -u origin staging-setup   "]


def test_every_make_target_the_docs_name_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w.-]+):", makefile, re.MULTILINE))
    docs = README.read_text() + OPERATIONS.read_text()
    code = re.findall(r"```\w*\n(.*?)```", docs, re.DOTALL) + re.findall(r"`([^`\n]+)`", docs)
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", "\n".join(code)))
    assert named <= targets, named - targets
    assert {"preview", "up", "smoke", "logs", "alarms", "destroy", "image-check", "check-python"} <= targets


def test_the_bad_deploy_runbook_uses_the_workflows_rollback_commands() -> None:
    operations = OPERATIONS.read_text()
    runbook = operations[operations.index("### A bad deploy") : operations.index("## Smoke test")]
    rollback = next(
        s["run"]
        for s in load("deploy.yml")["jobs"]["deploy"]["steps"]
        if "scripts.deployment rollback" in s.get("run", "")
    )
    command = ".venv/bin/python -m scripts.deployment rollback"
    assert command in rollback and command in runbook
    assert "Rollback target:" in runbook and "Rollback target:" in str(
        step_by_id(load("deploy.yml")["jobs"]["deploy"], "before")
    )
    commands = "\n".join(re.findall(r"```sh\n(.*?)```", runbook, re.DOTALL))
    assert "scripts.deployment previous" in commands  # what served before: ECS's history, not a revision number
    assert "wait services-stable" not in commands  # satisfied by a circuit-breaker rollback
    assert 'gh workflow run "deploy staging" -f ref=' in runbook
    assert load("deploy.yml")["name"] == "deploy staging"
    for heading in ("### Login storm", "### Redis down", "### Database full or out of connections"):
        assert heading in operations
    assert "make alarms" in operations[operations.index("## Event day runbooks") :]


# --- day two: a deploy that checks what ECS really runs, rolls back to what really served, queues, main only ------

VERIFY = ".venv/bin/python -m scripts.deployment verify"
ROLLBACK = ".venv/bin/python -m scripts.deployment rollback"


def test_a_circuit_breaker_rollback_fails_the_deploy_before_the_smoke_test() -> None:
    """`up` succeeds on a service the circuit breaker rolled back; this step does not."""
    deploy = load("deploy.yml")["jobs"]["deploy"]
    order = [s.get("id") or s.get("name") for s in deploy["steps"]]
    released = step_by_id(deploy, "released")
    assert order.index("up") < order.index("released") < order.index("smoke")
    assert released["env"] == {
        "CLUSTER": "${{ steps.up.outputs.cluster_name }}",
        "SERVICE": "${{ steps.up.outputs.service_name }}",
        "TASK_DEFINITION": "${{ steps.up.outputs.task_definition_arn }}",  # the stack output of this `up`
    }
    assert released["run"].strip() == (
        f'{VERIFY} --cluster "$CLUSTER" --service "$SERVICE" --task-definition "$TASK_DEFINITION"'
    )
    assert "if" not in released  # runs whenever `up` succeeded


def test_the_rollback_target_is_the_revision_really_serving_before_up() -> None:
    deploy = load("deploy.yml")["jobs"]["deploy"]
    before = step_by_id(deploy, "before")
    assert '.venv/bin/python -m scripts.deployment serving --cluster "$CLUSTER" --service "$SERVICE"' in before["run"]
    assert "GITHUB_STEP_SUMMARY" in before["run"]  # the manual rollback reads it there (docs/operations.md)
    (rollback,) = [s for s in deploy["steps"] if ROLLBACK in s.get("run", "")]
    condition = rollback["if"]
    assert condition.startswith("failure()")
    assert "steps.released.outcome == 'failure'" in condition and "steps.smoke.outcome == 'failure'" in condition
    assert f'{ROLLBACK} --cluster "$CLUSTER" --service "$SERVICE" --to "$PREVIOUS"' in rollback["run"]
    assert "aws ecs wait services-stable" not in (WORKFLOWS / "deploy.yml").read_text()  # fooled like `up`


def test_a_dispatched_deploy_runs_only_a_commit_on_main_resolved_once() -> None:
    workflow = load("deploy.yml")
    release = workflow["jobs"]["release"]
    assert release["permissions"] == {"contents": "read"}
    checkout = step_using(release, "actions/checkout")
    assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}  # main's history to compare with
    resolve = step_by_id(release, "resolve")
    assert resolve["env"] == {"REF": "${{ inputs.ref || github.sha }}"}  # through env: no template injection
    assert 'git merge-base --is-ancestor "$sha" origin/main' in resolve["run"]
    assert release["outputs"] == {"sha": "${{ steps.resolve.outputs.sha }}"}
    sha = "${{ needs.release.outputs.sha }}"
    assert workflow["jobs"]["checks"]["needs"] == "release"
    assert workflow["jobs"]["checks"]["with"] == {"ref": sha}
    deploy = workflow["jobs"]["deploy"]
    assert set(deploy["needs"]) == {"release", "checks"}
    assert step_using(deploy, "actions/checkout")["with"]["ref"] == sha  # what was checked is what is deployed
    assert "inputs.ref" not in (WORKFLOWS / "deploy.yml").read_text().split("jobs:", 1)[1].replace(
        resolve["env"]["REF"], ""
    )


def test_a_preview_never_cancels_a_pending_deploy_and_deploys_queue_in_order() -> None:
    """GitHub keeps one pending job per concurrency group and cancels the older pending one when another arrives
    (unless the group queues); previews therefore have groups of their own."""
    deploy = load("deploy.yml")["jobs"]["deploy"]["concurrency"]
    assert deploy == {"group": "pulumi-staging-deploy", "cancel-in-progress": False, "queue": "max"}
    preview = load("pull-request.yml")["jobs"]["preview"]["concurrency"]
    assert preview["group"] == "pulumi-staging-preview-${{ github.event.pull_request.number }}"
    assert preview["group"].lower() != deploy["group"].lower()  # group names are case-insensitive
    assert "concurrency" not in load("deploy.yml")
    for doc in (OPERATIONS.read_text(), README.read_text()):
        assert "`pulumi-staging-deploy`" in doc and "queue: max" in doc


def test_pull_requests_without_a_pulumi_token_skip_the_preview_and_say_why() -> None:
    jobs = load("pull-request.yml")["jobs"]
    fork = "github.event.pull_request.head.repo.full_name == github.repository"
    dependabot = "github.event.pull_request.user.login != 'dependabot[bot]'"
    assert jobs["preview"]["if"] == f"{fork} && {dependabot}"
    skipped = jobs["preview-skipped"]
    assert skipped["needs"] == "checks" and skipped["permissions"] == {}
    assert skipped["if"] == f"!({fork} && {dependabot})"  # exactly the pull requests the preview skips
    (say,) = skipped["steps"]
    assert "::notice" in say["run"] and "GITHUB_STEP_SUMMARY" in say["run"]
    assert "Dependabot" in say["run"] and "fork" in say["run"]
    assert "${{" not in say["run"]


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone like the release job's checkout (fetch-depth 0): main with two commits, an unmerged branch, a tag."""
    origin = tmp_path_factory.mktemp("origin")
    _git(origin, "init", "-q", "-b", "main")
    for name in ("first", "second"):
        _git(origin, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "--allow-empty", "-m", name)
    _git(origin, "tag", "v1", "main~1")
    _git(origin, "switch", "-q", "-c", "unmerged")
    _git(origin, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "--allow-empty", "-m", "side")
    _git(origin, "switch", "-q", "main")
    work = tmp_path_factory.mktemp("work") / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True, timeout=60)
    return work


def resolve(clone: Path, ref: str, github_ref: str = "refs/heads/main") -> tuple[int, str, str]:
    script = step_by_id(load("deploy.yml")["jobs"]["release"], "resolve")["run"]
    output = clone.parent / "output"
    output.write_text("")
    env = {"PATH": "/usr/bin:/bin", "REF": ref, "GITHUB_REF": github_ref, "GITHUB_OUTPUT": str(output)}
    env["GITHUB_STEP_SUMMARY"] = str(clone.parent / "summary")
    bash = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script]  # GitHub's `shell: bash`
    done = subprocess.run(bash, cwd=clone, env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, output.read_text(), done.stdout


@pytest.mark.parametrize("ref", ["main", "main~1", "v1"])
def test_the_release_job_resolves_a_ref_on_main_to_its_commit(clone: Path, ref: str) -> None:
    status, output, _ = resolve(clone, ref)
    assert status == 0
    assert output == f"sha={_git(clone, 'rev-parse', ref + '^{commit}')}\n"


def test_the_release_job_resolves_a_full_sha_of_main(clone: Path) -> None:
    sha = _git(clone, "rev-parse", "main~1")
    assert resolve(clone, sha)[:2] == (0, f"sha={sha}\n")


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("unmerged", "is not on main"),  # a pushed branch: dispatchable from main, never merged
        ("no-such-ref", "is not a commit, tag or branch"),
        ("--upload-pack=touch pwned", "Not a commit SHA, tag or branch name"),
        ("main$(id)", "Not a commit SHA, tag or branch name"),
    ],
)
def test_the_release_job_refuses_anything_not_on_main(clone: Path, ref: str, says: str) -> None:
    status, output, stdout = resolve(clone, ref)
    assert status != 0 and output == ""
    assert says in stdout


def test_the_release_job_refuses_a_dispatch_from_another_branch(clone: Path) -> None:
    status, output, stdout = resolve(clone, "main", github_ref="refs/heads/unmerged")
    assert (status, output) == (1, "")
    assert "Run this workflow from main" in stdout
