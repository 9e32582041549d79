"""The database cannot be replaced or deleted by an innocent change.

Three locks: the instance is `protect`ed (the engine refuses any plan that deletes or replaces it), every preview
and deploy runs `scripts/refuse_db_replacement.py` over `pulumi preview --json` (a policy pack sees resources, not
operations), and the final snapshot's name changes with every input that forces a replacement. The preview fixtures
follow the JSON `pulumi preview --json` prints (pulumi/pkg display/json.go, `previewDigest`: `steps` of `op`, `urn`,
`oldState`, `newState`, `replaceReasons`); the destructive one is what changing `dbName` plans.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from components.data import replacing_inputs
from scripts.offline_stack import ROOT, StackGraph
from scripts.refuse_db_replacement import destructive_database_steps, main

RDS = "aws:rds/instance:Instance"
FIXTURES = Path(__file__).parent / "fixtures"
WORKFLOWS = ROOT / ".github" / "workflows"
# Inputs of aws.rds.Instance that force a replacement (ForceNew in terraform-provider-aws's aws_db_instance schema):
# those this program sets, and the others, which it must not set without adding them to the snapshot's keepers.
FORCE_NEW_INPUTS = ("identifier", "engine", "dbName", "username", "storageEncrypted")
OTHER_FORCE_NEW_INPUTS = ("identifierPrefix", "kmsKeyId", "availabilityZone", "characterSetName",
                          "ncharCharacterSetName", "timezone", "snapshotIdentifier", "restoreToPointInTime",
                          "s3Import", "customIamInstanceProfile")  # fmt: skip


def test_the_database_is_protected(staging: StackGraph) -> None:
    assert staging.one(RDS).protect is True


def test_the_final_snapshot_suffix_changes_with_every_input_that_replaces_the_instance(staging: StackGraph) -> None:
    db = staging.one(RDS).plain
    suffix = staging.one("random:index/randomId:RandomId")
    keepers = suffix.plain["keepers"]
    assert keepers == {key: str(db[key]).lower() if isinstance(db[key], bool) else db[key] for key in FORCE_NEW_INPUTS}
    assert db["finalSnapshotIdentifier"] == f"{db['identifier']}-final-{suffix.state['hex']}"
    assert not set(OTHER_FORCE_NEW_INPUTS) & db.keys(), "a replacing input the snapshot suffix does not follow"


def test_another_identifier_gets_another_snapshot_suffix(run_stack: Callable[..., StackGraph]) -> None:
    restored = run_stack(config_overrides={"aidlc-auth:dbIdentifier": "auth-staging-db-r202612021200"})
    keepers = restored.one("random:index/randomId:RandomId").plain["keepers"]
    assert keepers["identifier"] == "auth-staging-db-r202612021200"
    assert restored.one(RDS).plain["finalSnapshotIdentifier"].startswith("auth-staging-db-r202612021200-final-")


def test_the_keepers_are_the_replacing_inputs_the_component_uses() -> None:
    from components.config import DataSettings

    assert tuple(replacing_inputs("x", DataSettings())) == FORCE_NEW_INPUTS


def test_a_plan_that_replaces_the_database_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    fixture = FIXTURES / "preview_replaces_the_database.json"
    steps = destructive_database_steps(json.loads(fixture.read_text()))
    assert [s["op"] for s in steps] == ["delete-replaced", "replace", "create-replacement"]
    assert main([str(fixture)]) == 1
    assert "replaced because of: dbName" in capsys.readouterr().err


def test_a_plan_that_updates_the_database_in_place_passes() -> None:
    assert main([str(FIXTURES / "preview_updates_in_place.json")]) == 0


@pytest.mark.parametrize("op", ["delete", "discard", "replace"])
def test_deleting_or_forgetting_the_database_is_refused_too(op: str) -> None:
    urn = "urn:pulumi:staging::aidlc-auth::aidlc:data:Data$aws:rds/instance:Instance::auth-staging-db"
    assert destructive_database_steps({"steps": [{"op": op, "urn": urn}]})


def test_input_that_is_not_a_preview_is_an_error_not_a_pass(tmp_path: Path) -> None:
    garbage = tmp_path / "preview.json"
    garbage.write_text('{"error": "not logged in"}')
    assert main([str(garbage)]) == 2


def test_the_check_reads_stdin_as_the_workflows_pipe_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scripts.refuse_db_replacement"],
        input=(FIXTURES / "preview_replaces_the_database.json").read_text(),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 1, done.stderr


def _run_lines(workflow: str) -> list[str]:
    jobs = yaml.safe_load((WORKFLOWS / workflow).read_text())["jobs"]
    return [step.get("run", "") for job in jobs.values() for step in job.get("steps", [])]


@pytest.mark.parametrize("workflow", ["deploy.yml", "pull-request.yml"])
def test_every_preview_and_deploy_runs_the_check(workflow: str) -> None:
    runs = "\n".join(_run_lines(workflow))
    assert re.search(r"pulumi preview .*--json.*\| *\.venv/bin/python -m scripts\.refuse_db_replacement", runs), runs


def test_the_deploy_checks_the_plan_before_pulumi_up() -> None:
    jobs = yaml.safe_load((WORKFLOWS / "deploy.yml").read_text())["jobs"]
    steps = jobs["deploy"]["steps"]
    check = next(i for i, s in enumerate(steps) if "scripts.refuse_db_replacement" in s.get("run", ""))
    up = next(i for i, s in enumerate(steps) if s.get("with", {}).get("command") == "up")
    assert check < up


@pytest.mark.parametrize("target", ["preview", "up"])
def test_make_preview_and_up_run_the_check_first(target: str) -> None:
    recipe = subprocess.run(
        ["make", "-n", target, "PULUMI=echo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    lines = [line for line in recipe.splitlines() if "refuse_db_replacement" in line or " up --stack" in line]
    assert lines and "refuse_db_replacement" in lines[0], recipe


def test_make_destroy_unprotects_exactly_the_database_first(staging: StackGraph) -> None:
    recipe = subprocess.run(
        ["make", "-n", "destroy", "PULUMI=pulumi"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    unprotect = next(line for line in recipe.splitlines() if "state unprotect" in line)
    assert staging.one(RDS).urn in unprotect.replace("'", "").replace("\\$", "$").replace("$$", "$")
    assert recipe.index("state unprotect") < recipe.index("pulumi destroy")
