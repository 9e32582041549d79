"""Data promises: RDS and Redis private, encrypted, backed up; secrets generated and kept in Secrets Manager."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from auth_service.adapters.security.tokens import generate_private_key_pem
from components.config import DataSettings
from scripts.offline_stack import StackGraph, is_secret_wrapper

RDS = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def private_subnet_ids(graph: StackGraph) -> set[str]:
    return {s.state["id"] for s in graph.subnets("private")}


def stored_secret(graph: StackGraph, label: str) -> str:
    (version,) = [v for v in graph.of_type(SECRET_VERSION) if v.name == f"auth-staging-{label}"]
    assert is_secret_wrapper(version.inputs["secretString"]), f"{label} is stored as a plain value"
    return version.plain["secretString"]


def test_postgres_16_is_private_encrypted_and_sized_for_staging(staging: StackGraph) -> None:
    db = staging.one(RDS).plain
    assert (db["engine"], db["engineVersion"]) == ("postgres", "16")
    assert (db["instanceClass"], db["storageType"], int(db["allocatedStorage"])) == ("db.t4g.micro", "gp3", 20)
    assert db["storageEncrypted"] is True
    assert db["publiclyAccessible"] is False
    assert (db["dbName"], db["username"]) == ("aidlc_auth", "aidlc_user")
    assert db["vpcSecurityGroupIds"] == [staging.security_group("db").state["id"]]
    subnet_group = staging.one("aws:rds/subnetGroup:SubnetGroup")
    assert db["dbSubnetGroupName"] == subnet_group.state["name"]
    assert set(subnet_group.plain["subnetIds"]) == private_subnet_ids(staging)


def test_postgres_keeps_backups_and_takes_a_final_snapshot_on_destroy(staging: StackGraph) -> None:
    db = staging.one(RDS).plain
    assert int(db["backupRetentionPeriod"]) == 7
    assert db["skipFinalSnapshot"] is False
    assert db["finalSnapshotIdentifier"].startswith("auth-staging-db-final-")


def test_multi_az_and_deletion_protection_are_off_for_staging_and_on_by_config(
    staging: StackGraph, run_stack: Callable[..., StackGraph]
) -> None:
    db = staging.one(RDS).plain
    assert (db["multiAz"], db["deletionProtection"]) == (False, False)

    prod_like = run_stack(config_overrides={"aidlc-auth:dbMultiAz": "true", "aidlc-auth:dbDeletionProtection": "true"})
    db = prod_like.one(RDS).plain
    assert (db["multiAz"], db["deletionProtection"]) == (True, True)


def test_redis_7_is_private_and_encrypted_at_rest_and_in_transit_with_auth(staging: StackGraph) -> None:
    redis = staging.one(REDIS)
    inputs = redis.plain
    assert inputs["engine"] == "redis" and inputs["engineVersion"].startswith("7.")
    assert inputs["nodeType"] == "cache.t4g.micro"
    assert inputs["atRestEncryptionEnabled"] is True
    assert inputs["transitEncryptionEnabled"] is True
    assert is_secret_wrapper(redis.inputs["authToken"])
    assert inputs["securityGroupIds"] == [staging.security_group("redis").state["id"]]
    subnet_group = staging.one("aws:elasticache/subnetGroup:SubnetGroup")
    assert inputs["subnetGroupName"] == subnet_group.state["name"]
    assert set(subnet_group.plain["subnetIds"]) == private_subnet_ids(staging)


def test_generated_credentials_are_the_ones_stored_in_secrets_manager(staging: StackGraph) -> None:
    generated = staging.generated_secrets
    db_password = stored_secret(staging, "db-password")
    redis_token = stored_secret(staging, "redis-auth-token")
    jwt_key = stored_secret(staging, "jwt-private-key")

    assert db_password == generated["auth-staging-db-password"]
    assert redis_token == generated["auth-staging-redis-auth-token"]
    assert jwt_key == generated["auth-staging-jwt-signing-key"]
    assert jwt_key.startswith("-----BEGIN PRIVATE KEY-----")
    assert staging.one("tls:index/privateKey:PrivateKey").plain["algorithm"] == "ED25519"

    assert is_secret_wrapper(staging.one(RDS).inputs["password"])
    assert staging.one(RDS).plain["password"] == db_password
    assert staging.one(REDIS).plain["authToken"] == redis_token
    assert len(staging.of_type("aws:secretsmanager/secret:Secret")) == 3


def test_config_secrets_replace_the_generated_ones(run_stack: Callable[..., StackGraph]) -> None:
    given = {
        "aidlc-auth:dbPassword": "ConfiguredDbPassword123",
        "aidlc-auth:redisAuthToken": "ConfiguredRedisToken1234567890",
        "aidlc-auth:jwtPrivateKey": generate_private_key_pem(),  # a real key: the stack derives the public JWKS
    }
    graph = run_stack(secret_config=given)

    assert not graph.of_type("random:index/randomPassword:RandomPassword")
    assert not graph.of_type("tls:index/privateKey:PrivateKey")
    assert stored_secret(graph, "db-password") == given["aidlc-auth:dbPassword"]
    assert stored_secret(graph, "redis-auth-token") == given["aidlc-auth:redisAuthToken"]
    assert stored_secret(graph, "jwt-private-key") == given["aidlc-auth:jwtPrivateKey"]
    assert is_secret_wrapper(graph.one(RDS).inputs["password"])
    assert is_secret_wrapper(graph.one(REDIS).inputs["authToken"])


# ------------------------------------------------------------------------- changeable during the event


def test_changes_to_the_data_tier_apply_now_unless_config_says_otherwise(
    staging: StackGraph, run_stack: Callable[..., StackGraph]
) -> None:
    assert staging.one(RDS).plain["applyImmediately"] is True
    assert staging.one(REDIS).plain["applyImmediately"] is True
    in_the_window = run_stack(config_overrides={"aidlc-auth:dataApplyImmediately": "false"})
    assert in_the_window.one(RDS).plain["applyImmediately"] is False
    assert in_the_window.one(REDIS).plain["applyImmediately"] is False


def test_storage_grows_by_itself_up_to_a_ceiling(staging: StackGraph) -> None:
    db = staging.one(RDS).plain
    assert (int(db["allocatedStorage"]), int(db["maxAllocatedStorage"])) == (20, 100)


def test_a_ceiling_at_or_below_the_allocated_storage_is_refused() -> None:
    with pytest.raises(ValueError, match="dbMaxAllocatedStorageGib"):
        DataSettings(db_allocated_storage_gib=20, db_max_allocated_storage_gib=20)


def test_postgres_logs_go_to_log_groups_the_stack_owns_and_expires(staging: StackGraph) -> None:
    db = staging.one(RDS)
    assert db.plain["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]  # all RDS for PostgreSQL has
    identifier = db.plain["identifier"]
    groups = [g for g in staging.of_type(LOG_GROUP) if g.plain["name"].startswith("/aws/rds/")]
    assert {g.plain["name"]: int(g.plain["retentionInDays"]) for g in groups} == {
        f"/aws/rds/instance/{identifier}/postgresql": 30,
        f"/aws/rds/instance/{identifier}/upgrade": 30,
    }
    # Created first: RDS would otherwise create them itself, never expiring and left behind by `destroy`.
    assert {g.key for g in groups} <= db.depends_on
