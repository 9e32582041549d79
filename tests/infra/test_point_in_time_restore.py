"""The point-in-time-restore runbook (docs/operations.md) against the program it hands the restored instance to.

Pulumi understands the restore because nothing is renamed: the restored instance gets a new identifier, the state
forgets the old instance and imports the new one under the same logical name and parent, and `dbIdentifier` makes
the program name it too. Offline this proves the runbook's names (outputs, URNs, type token, config key, make
targets) are the stack's, and that the program with `dbIdentifier` set moves everything that follows the
identifier and replaces nothing else.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Callable

import pytest

from scripts.offline_stack import ROOT, StackGraph

RDS = "aws:rds/instance:Instance"
RESTORED = "auth-staging-db-r202612021200"
OPERATIONS = ROOT / "docs" / "operations.md"


def runbook() -> str:
    text = OPERATIONS.read_text()
    section = text.split("### Restore the database to a point in time", 1)[1]
    (commands,) = re.findall(r"```sh\n(.*?)```", section.split("\n## ", 1)[0], re.DOTALL)[:1]
    return str(commands)


@pytest.fixture(scope="module")
def restored(run_stack: Callable[..., StackGraph]) -> StackGraph:
    return run_stack(config_overrides={"aidlc-auth:dbIdentifier": RESTORED})


def real_urn(urn: str) -> str:
    """The mocks put the root stack in a child's type chain; a real URN does not."""
    return urn.replace("pulumi:pulumi:Stack$", "")


def test_the_runbook_renames_nothing() -> None:
    commands = runbook()
    assert "--new-db-instance-identifier" not in commands
    assert "restore-db-instance-to-point-in-time" in commands
    assert "pulumi refresh" not in commands


def test_every_output_the_runbook_reads_is_exported(staging: StackGraph) -> None:
    read = set(re.findall(r"pulumi stack output (\w+)", runbook()))
    assert {"db_instance_identifier", "db_subnet_group_name", "db_security_group_id", "db_parameter_group_name"} <= read
    assert read <= staging.outputs.keys()
    assert staging.outputs["db_subnet_group_name"] == staging.one("aws:rds/subnetGroup:SubnetGroup").state["name"]
    assert staging.outputs["db_security_group_id"] == staging.security_group("db").state["id"]
    assert staging.outputs["db_parameter_group_name"] == staging.one(RDS).plain["parameterGroupName"]


def test_the_runbook_forgets_and_imports_exactly_the_database(staging: StackGraph) -> None:
    commands = runbook()
    db = staging.one(RDS)
    for verb in ("unprotect", "delete"):
        (urn,) = re.findall(rf"pulumi state {verb} .*'(urn:[^']+)'", commands)
        assert urn == real_urn(db.urn)
    (parent, typ, name) = re.search(r"--parent '\w+=([^']+)'\s*\\\n\s*(\S+) (\S+) \"\$NEW\"", commands).groups()  # type: ignore[union-attr]
    (data,) = [r for r in staging.resources if r.typ == "aidlc:data:Data"]
    assert (parent, typ, name) == (real_urn(data.urn), db.typ, db.name)
    assert "--protect" in commands


def test_the_make_targets_it_uses_exist() -> None:
    for target in set(re.findall(r"\bmake (\w[\w-]*)", runbook())):
        subprocess.run(["make", "-n", target, "PULUMI=echo"], cwd=ROOT, check=True, capture_output=True)


def test_the_restored_identifier_moves_everything_that_follows_it(staging: StackGraph, restored: StackGraph) -> None:
    db = restored.one(RDS)
    assert (db.name, real_urn(db.urn)) == (staging.one(RDS).name, real_urn(staging.one(RDS).urn))
    assert db.plain["identifier"] == RESTORED and db.protect
    assert restored.outputs["db_instance_identifier"] == RESTORED
    groups = {g.plain["name"] for g in restored.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert {f"/aws/rds/instance/{RESTORED}/postgresql", f"/aws/rds/instance/{RESTORED}/upgrade"} <= groups
    (alarm,) = [a for a in restored.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if "rds-cpu" in a.name]
    assert alarm.plain["dimensions"] == {"DBInstanceIdentifier": RESTORED}
    (container,) = json.loads(restored.one("aws:ecs/taskDefinition:TaskDefinition").plain["containerDefinitions"])
    env = {item["name"]: item["value"] for item in container["environment"]}
    assert env["DB_HOST"] == db.state["address"] and env["DB_HOST"].startswith(RESTORED)


def test_the_import_matches_the_restore_on_every_input_that_would_replace_it(
    staging: StackGraph, restored: StackGraph
) -> None:
    """A restored instance keeps the source's database name, user, engine and encryption; the program must ask
    for exactly those, or the deploy after the import would plan a replacement (and the plan check refuse it)."""
    before, after = staging.one(RDS).plain, restored.one(RDS).plain
    for key in ("engine", "dbName", "username", "storageEncrypted", "instanceClass", "parameterGroupName"):
        assert after[key] == before[key], key


def _aws_commands(text: str) -> list[tuple[str, str, list[str]]]:
    """(service, operation, flags) of every `aws <service> <operation> --flag ...` command, continuations joined;
    the CLI's own `wait` subcommands are not API calls."""
    commands = []
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        words = shlex.split(line.split("#", 1)[0]) if "aws " in line else []
        for n, word in enumerate(words[:-2]):
            if word == "aws" and words[n + 2] != "wait":
                rest = words[n + 3 :]
                end = next((i for i, w in enumerate(rest) if w in {"&&", "||", ";", "|"}), len(rest))
                flags = [w[2:] for w in rest[:end] if w.startswith("--")]
                commands.append((words[n + 1], words[n + 2], flags))
    return commands


def test_every_aws_cli_flag_of_the_runbook_is_a_member_of_its_api_call() -> None:
    """The CLI's flags are the API's members in kebab case (`--no-x` sets a boolean false); botocore's RDS model
    says which exist, so a misspelt or invented flag fails here instead of in the middle of a restore."""
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    commands = [c for c in _aws_commands(runbook()) if c[0] == "rds"]
    assert "restore-db-instance-to-point-in-time" in {operation for _, operation, _ in commands}
    for service, cli_operation, flags in commands:
        model = session.get_service_model(service)
        (operation_name,) = [op for op in model.operation_names if xform_name(op, "-") == cli_operation]
        members = model.operation_model(operation_name).input_shape.members
        cli_names = {xform_name(name, "-"): shape for name, shape in members.items()}
        for flag in flags:
            plain = flag.removeprefix("no-")
            shape = cli_names.get(flag) or cli_names.get(plain)
            assert shape is not None, f"aws {service} {cli_operation} --{flag}: no such member"
            if flag.startswith("no-"):
                assert shape.type_name == "boolean", f"--{flag} negates a non-boolean"
