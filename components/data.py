"""Data layer: RDS PostgreSQL 16, ElastiCache Redis 7 (TLS + AUTH), and the service's secrets.

The DB password, Redis AUTH token and JWT signing key are generated in the stack (or taken from
config secrets) and stored in Secrets Manager; the task definition references them by ARN only, taken from
each secret's *version*, so no task can be defined (let alone started) before its secret has a value.
Every setting an operator may change during the event (`apply_immediately`) takes effect at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import pulumi_tls as tls

from components.config import DB_PORT, REDIS_PORT, DataSettings
from components.signing_keys import public_jwks_json


@dataclass(frozen=True)
class DataArgs:
    settings: DataSettings
    private_subnet_ids: Sequence[pulumi.Input[str]]
    db_security_group_id: pulumi.Input[str]
    redis_security_group_id: pulumi.Input[str]


@dataclass(frozen=True)
class ServiceSecretArns:
    """Secrets Manager ARNs, one per secret in docs/container-contract.md, read from the secrets' versions."""

    db_password: pulumi.Output[str]
    redis_auth_token: pulumi.Output[str]
    jwt_private_key: pulumi.Output[str]

    def all(self) -> list[pulumi.Output[str]]:
        return [self.db_password, self.redis_auth_token, self.jwt_private_key]


class Data(pulumi.ComponentResource):
    db: aws.rds.Instance
    db_parameter_group: aws.rds.ParameterGroup
    db_subnet_group_name: pulumi.Output[str]
    redis: aws.elasticache.ReplicationGroup
    db_log_groups: list[aws.cloudwatch.LogGroup]
    secret_versions: list[aws.secretsmanager.SecretVersion]
    secret_arns: ServiceSecretArns
    jwks: pulumi.Output[str]
    jwks_parameter: aws.ssm.Parameter

    def __init__(self, name: str, args: DataArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aidlc:data:Data", name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        settings = args.settings

        db_password = settings.db_password or self._generated_token("db-password", length=40)
        redis_auth_token = settings.redis_auth_token or self._generated_token("redis-auth-token", length=64)
        jwt_private_key = settings.jwt_private_key or self._generated_signing_key()
        self.jwks = self._published_jwks(jwt_private_key, settings.jwt_next_private_key)

        self.db = self._postgres(args, db_password)
        self.redis = self._redis(args, redis_auth_token)
        self.secret_versions = []
        self.secret_arns = ServiceSecretArns(
            db_password=self._stored_secret("db-password", "RDS master password", db_password, settings),
            redis_auth_token=self._stored_secret("redis-auth-token", "Redis AUTH token", redis_auth_token, settings),
            jwt_private_key=self._stored_secret("jwt-private-key", "JWT signing key (PEM)", jwt_private_key, settings),
        )

        self.db_name = settings.db_name
        self.db_user = settings.db_user
        self.db_address = self.db.address
        self.db_instance_identifier = self.db.identifier
        self.db_parameter_group_name = self.db_parameter_group.name
        self.redis_primary_endpoint = self.redis.primary_endpoint_address
        self.redis_replication_group_id = self.redis.id
        self.redis_member_cluster_ids = redis_member_cluster_ids(self.redis.id, settings.cache_node_count)
        self.register_outputs(
            {
                "db_address": self.db_address,
                "db_instance_identifier": self.db_instance_identifier,
                "db_parameter_group_name": self.db_parameter_group_name,
                "db_subnet_group_name": self.db_subnet_group_name,
                "redis_primary_endpoint": self.redis_primary_endpoint,
                "redis_replication_group_id": self.redis_replication_group_id,
                "jwks": self.jwks,
                "jwks_parameter_name": self.jwks_parameter.name,
            }
        )

    # --- secrets ------------------------------------------------------------------------------

    def _generated_token(self, label: str, length: int) -> pulumi.Output[str]:
        # Letters and digits only: RDS rejects / @ " and space, ElastiCache rejects / @ ".
        token = random.RandomPassword(f"{self._name}-{label}", length=length, special=False, opts=self._child)
        return pulumi.Output.secret(token.result)

    def _generated_signing_key(self) -> pulumi.Output[str]:
        key = tls.PrivateKey(f"{self._name}-jwt-signing-key", algorithm="ED25519", opts=self._child)
        return pulumi.Output.secret(key.private_key_pem_pkcs8)

    def _stored_secret(
        self, label: str, description: str, value: pulumi.Output[str], settings: DataSettings
    ) -> pulumi.Output[str]:
        secret = aws.secretsmanager.Secret(
            f"{self._name}-{label}",
            description=f"{description} for {self._name}",
            recovery_window_in_days=settings.secret_recovery_window_days,
            opts=self._child,
        )
        version = aws.secretsmanager.SecretVersion(
            f"{self._name}-{label}",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(value),  # type: ignore[arg-type]  # mypy cannot infer T from Output[str]
            opts=self._child,
        )
        self.secret_versions.append(version)
        # The version's `secret_arn` (`arn` is deprecated in pulumi-aws 7) is the secret's ARN, what ECS `valueFrom`
        # takes; it is known only once the value is stored.
        return version.secret_arn

    # --- public keys --------------------------------------------------------------------------

    def _published_jwks(
        self, signing_key: pulumi.Output[str], next_key: pulumi.Output[str] | None
    ) -> pulumi.Output[str]:
        """The public JWKS (components/signing_keys.py), as a plain output and an SSM parameter: other units pin
        it instead of fetching it over plain HTTP. Public keys by construction, so the secret marker the private
        keys carry is dropped on purpose."""
        private_keys = [signing_key] if next_key is None else [signing_key, next_key]
        jwks = pulumi.Output.unsecret(pulumi.Output.all(*private_keys).apply(lambda pems: public_jwks_json(*pems)))
        self.jwks_parameter = aws.ssm.Parameter(
            f"{self._name}-jwks",
            name=f"/{self._name}/jwks",  # a hierarchy of this stack's own: the CI roles are scoped to it
            description=f"Public JWKS of {self._name}'s access-token signing keys (signing key first)",
            type="String",
            tier="Standard",  # free; holds 4,096 characters, checked in signing_keys.py
            data_type="text",
            insecure_value=jwks,  # `value` would be marked secret; public keys are meant to be read
            opts=self._child,
        )
        return jwks

    # --- PostgreSQL ---------------------------------------------------------------------------

    def _postgres(self, args: DataArgs, password: pulumi.Output[str]) -> aws.rds.Instance:
        settings = args.settings
        subnet_group = aws.rds.SubnetGroup(f"{self._name}-db", subnet_ids=args.private_subnet_ids, opts=self._child)
        self.db_parameter_group = self._db_parameter_group(settings)
        identifier = settings.db_identifier or f"{self._name}-db"
        replacing = replacing_inputs(identifier, settings)
        # A new suffix whenever an input changes that replaces the instance: the replaced instance's final snapshot
        # keeps the old name, so the new instance's own final snapshot can never collide with it.
        snapshot_suffix = random.RandomId(
            f"{self._name}-db-final-snapshot", byte_length=4, keepers=replacing, opts=self._child
        )
        self.db_log_groups = [
            self._db_log_group(identifier, log_type, settings) for log_type in settings.db_log_exports
        ]
        self.db_subnet_group_name = subnet_group.name
        return aws.rds.Instance(
            f"{self._name}-db",
            # A fixed identifier names the exported log groups before the instance exists. It also makes any
            # replacement delete-before-create (an empty database): hence `protect` below and the plan check
            # (scripts/refuse_db_replacement.py) in every preview and deploy.
            identifier=replacing["identifier"],
            engine=replacing["engine"],
            engine_version=settings.db_engine_version,
            instance_class=settings.db_instance_class,
            parameter_group_name=self.db_parameter_group.name,
            storage_type="gp3",
            allocated_storage=settings.db_allocated_storage_gib,
            max_allocated_storage=settings.db_max_allocated_storage_gib,
            storage_encrypted=replacing["storageEncrypted"] == "true",
            db_name=replacing["dbName"],
            username=replacing["username"],
            password=password,
            port=DB_PORT,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[args.db_security_group_id],
            publicly_accessible=False,
            multi_az=settings.db_multi_az,
            backup_retention_period=settings.db_backup_retention_days,
            # An instance deleted by mistake can still be restored to any point of its backup window.
            delete_automated_backups=False,
            deletion_protection=settings.db_deletion_protection,
            skip_final_snapshot=False,
            final_snapshot_identifier=snapshot_suffix.hex.apply(lambda h: f"{identifier}-final-{h}"),
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            enabled_cloudwatch_logs_exports=list(settings.db_log_exports),
            apply_immediately=settings.apply_immediately,
            # RDS would create the export's log groups itself, kept forever and left behind by `destroy`.
            # `protect`: the engine refuses any plan that deletes or replaces the database; teardown unprotects
            # it explicitly (`make destroy`, README step 17).
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.db_log_groups, protect=True),
        )

    def _db_parameter_group(self, settings: DataSettings) -> aws.rds.ParameterGroup:
        """The instance's parameters: the family's defaults (rds.force_ssl=1 included) and a pinned
        max_connections, so every pool is sized against a known ceiling (components/config.py)."""
        return aws.rds.ParameterGroup(
            f"{self._name}-db-params",
            family=settings.parameter_group_family,
            description=f"PostgreSQL parameters of {self._name}",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(
                    # Static: applied at creation, on an existing instance at its next reboot.
                    name="max_connections",
                    value=str(settings.max_connections),
                    apply_method="pending-reboot",
                )
            ],
            opts=self._child,
        )

    def _db_log_group(self, identifier: str, log_type: str, settings: DataSettings) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            f"{self._name}-db-{log_type}-logs",
            name=f"/aws/rds/instance/{identifier}/{log_type}",  # the name RDS exports to
            retention_in_days=settings.log_retention_days,
            opts=self._child,
        )

    # --- Redis --------------------------------------------------------------------------------

    def _redis(self, args: DataArgs, auth_token: pulumi.Output[str]) -> aws.elasticache.ReplicationGroup:
        settings = args.settings
        subnet_group = aws.elasticache.SubnetGroup(
            f"{self._name}-redis", subnet_ids=args.private_subnet_ids, opts=self._child
        )
        with_failover = settings.cache_node_count > 1
        return aws.elasticache.ReplicationGroup(
            f"{self._name}-redis",
            description=f"Sessions and rate limits for {self._name}",
            engine="redis",
            engine_version=settings.cache_engine_version,
            node_type=settings.cache_node_type,
            num_cache_clusters=settings.cache_node_count,
            automatic_failover_enabled=with_failover,
            multi_az_enabled=with_failover,
            port=REDIS_PORT,
            subnet_group_name=subnet_group.name,
            security_group_ids=[args.redis_security_group_id],
            at_rest_encryption_enabled=True,
            transit_encryption_enabled=True,
            auth_token=auth_token,
            auto_minor_version_upgrade=True,
            apply_immediately=settings.apply_immediately,
            opts=self._child,
        )


def replacing_inputs(identifier: str, settings: DataSettings) -> dict[str, str]:
    """The instance's inputs that force its replacement (ForceNew in the provider), as the snapshot suffix's
    keepers: identifier, engine, database name, master user name, storage encryption."""
    return {
        "identifier": identifier,
        "engine": "postgres",
        "dbName": settings.db_name,
        "username": settings.db_user,
        "storageEncrypted": "true",
    }


def redis_member_cluster_ids(replication_group_id: pulumi.Input[str], count: int) -> list[pulumi.Output[str]]:
    """ElastiCache names the member clusters of a replication group `<group id>-001`, `-002`, ..."""
    return [pulumi.Output.concat(replication_group_id, f"-{n:03d}") for n in range(1, count + 1)]
