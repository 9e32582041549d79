"""Settings of both programs, read once from Pulumi config into typed, frozen dataclasses.

The bottom layer of `components/`: every component imports its settings from here and this module imports no
component, so the settings, their defaults and the config keys that set them are in one place, read one way
(the typed getters at the end of the reading section).

Every setting has a staging default, so `pulumi up` needs no `pulumi config set`. Pulumi.staging.yaml
repeats the non-secret defaults so a reviewer sees them; a prod stack overrides a few of them
(e.g. `dbMultiAz: true`, `dbDeletionProtection: true`, `natGatewayPerAz: true`).

Optional config secrets (`pulumi config set --secret ...`) replace the values the stack would
otherwise generate: `dbPassword`, `redisAuthToken`, `jwtPrivateKey` (PEM, Ed25519 or EC P-256);
`jwtNextPrivateKey` publishes the next signing key before the service signs with it (a key rotation's first step).
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import get_monitor

from components.capacity import DEFAULT_LEAD_MINUTES

APP_PORT = 8000  # docs/container-contract.md
DB_PORT = 5432
REDIS_PORT = 6379
GIB = 1024**3

# --- PostgreSQL connections (docs/operations.md#database-connections) ---------------------------------------------
# RDS's default max_connections is LEAST(DBInstanceClassMemory/9531392, 5000), where DBInstanceClassMemory is the
# class's memory *minus* what the OS and RDS's own processes keep, a figure AWS does not publish: 1 GiB classes
# report 81-87 where the paper value is 112. So the stack pins max_connections in its own parameter group, at or
# below that observed default (80 per GiB), and sizes every pool against the pinned number, not a guess.
MAX_CONNECTIONS_PER_GIB = 80
DB_CLASS_MEMORY_GIB = {
    "db.t4g.micro": 1,
    "db.t4g.small": 2,
    "db.t4g.medium": 4,
    "db.t4g.large": 8,
    "db.t4g.xlarge": 16,
    "db.m7g.large": 8,
    "db.r7g.large": 16,
}
# Slots the application can never have: superuser_reserved_connections (3, RDS's own rdsadmin) and
# rds.rds_superuser_reserved_connections (2, kept free for an operator of the master role to get in and look).
RDS_RESERVED_CONNECTIONS = 3 + 2
# The DatabaseConnections alarm fires above this fraction of max_connections; the service at its worst (every
# task of the scaling maximum, doubled by a rolling deploy, every pool full) must stay at or below it.
DB_CONNECTIONS_ALARM_FRACTION = 0.75


@dataclass(frozen=True)
class NetworkSettings:
    vpc_cidr: str = "10.0.0.0/16"
    az_count: int = 2
    nat_gateway_per_az: bool = False  # one NAT keeps staging cheap; prod sets true


@dataclass(frozen=True)
class DataSettings:
    db_instance_class: str = "db.t4g.micro"
    db_engine_version: str = "16"
    db_allocated_storage_gib: int = 20
    db_max_allocated_storage_gib: int = 100  # storage autoscaling ceiling: a full disk at the event grows instead
    db_log_exports: tuple[str, ...] = ("postgresql", "upgrade")  # every log type RDS for PostgreSQL exports
    log_retention_days: int = 30
    apply_immediately: bool = True  # a change made during the event must not wait for the maintenance window
    db_backup_retention_days: int = 7
    db_multi_az: bool = False
    db_deletion_protection: bool = False
    db_identifier: str | None = None  # None: `<namePrefix>-db`; another one adopts a restored instance (PITR)
    db_max_connections: int | None = None  # pinned in the parameter group; None: MAX_CONNECTIONS_PER_GIB x memory
    db_name: str = "aidlc_auth"
    db_user: str = "aidlc_user"
    cache_node_type: str = "cache.t4g.micro"
    cache_engine_version: str = "7.1"
    cache_node_count: int = 1  # 2+ turns on automatic failover across the AZs
    secret_recovery_window_days: int = 7
    db_password: pulumi.Output[str] | None = None  # from config secrets; generated when None
    redis_auth_token: pulumi.Output[str] | None = None
    jwt_private_key: pulumi.Output[str] | None = None
    # Step one of a key rotation (docs/integration.md#key-rotation): published beside the signing key, not used.
    jwt_next_private_key: pulumi.Output[str] | None = None

    def __post_init__(self) -> None:
        if self.db_max_allocated_storage_gib <= self.db_allocated_storage_gib:
            raise ValueError(
                f"dbMaxAllocatedStorageGib ({self.db_max_allocated_storage_gib}) must exceed"
                f" dbAllocatedStorageGib ({self.db_allocated_storage_gib}): it is the storage autoscaling ceiling"
            )
        if self.db_max_connections is None and self.db_instance_class not in DB_CLASS_MEMORY_GIB:
            raise ValueError(
                f"dbInstanceClass {self.db_instance_class}: its max_connections is not known here; set"
                f" dbMaxConnections (at most its memory in GiB x {MAX_CONNECTIONS_PER_GIB})"
            )

    @property
    def max_connections(self) -> int:
        """PostgreSQL's max_connections, pinned in the stack's parameter group."""
        if self.db_max_connections is not None:
            return self.db_max_connections
        return DB_CLASS_MEMORY_GIB[self.db_instance_class] * MAX_CONNECTIONS_PER_GIB

    @property
    def parameter_group_family(self) -> str:
        return f"postgres{self.db_engine_version.split('.')[0]}"


@dataclass(frozen=True)
class ComputeSettings:
    region: str = "us-east-1"
    environment: str = "staging"
    service_name: str = "aidlc-auth-staging"
    jwt_issuer: str = "aidlc-auth-staging"
    jwt_audience: str = "aidlc"
    access_token_ttl_seconds: int = 900
    log_level: str = "INFO"
    task_cpu: int = 512
    task_memory: int = 1024
    desired_count: int = 1  # at creation only; then auto scaling owns the count (ScalingSettings.min_tasks)
    # DB_POOL_SIZE of every worker; the service opens as many overflow connections again (max_overflow=pool_size)
    db_pool_size: int = 2
    deployment_maximum_percent: int = 200  # a rolling deploy starts a full new set beside the old one
    health_check_grace_period_seconds: int = 90
    log_retention_days: int = 30
    ecr_keep_images: int = 10
    ecr_force_delete: bool = True  # staging: `pulumi destroy` removes the pushed images too
    docker_context: str = "auth_service"
    # X86_64 until argon2id is measured on an arm64 host (docs/capacity.md, "Task architecture"): the tasks per
    # attendee come from an x86 measurement. The image is built for whichever architecture the task names.
    cpu_architecture: str = "X86_64"
    # ~$6/month of custom metrics; the event's views (ALB healthy hosts, ECS CPU/memory, alarms) do not need it.
    container_insights: bool = False
    # Shared egress addresses (the venue NAT): the service's SHARED_EGRESS_CIDRS, per-address limits for thousands.
    shared_egress_cidrs: tuple[str, ...] = ()
    # The service's first task runs on Fargate Spot, every other one on demand (components/compute.py). An event
    # window's minimum counts it on top of the tasks the crowd needs, so the crowd never depends on it
    # (docs/operations.md, "Fargate Spot at idle").
    idle_on_spot: bool = True

    def __post_init__(self) -> None:
        if self.cpu_architecture not in DOCKER_PLATFORMS:
            raise ValueError(
                f"cpuArchitecture must be one of {sorted(DOCKER_PLATFORMS)}, got {self.cpu_architecture!r}"
            )
        for cidr in self.shared_egress_cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"sharedEgressCidrs: {cidr!r} is not an IP network (e.g. 203.0.113.7/32)") from exc

    @property
    def spot_tasks(self) -> int:
        """Tasks on Fargate Spot (the capacity provider strategy's base): never counted for an event's crowd."""
        return SPOT_TASKS if self.idle_on_spot else 0

    @property
    def docker_platform(self) -> str:
        """The image build platform of the task definition's runtimePlatform.cpuArchitecture."""
        return DOCKER_PLATFORMS[self.cpu_architecture]

    @property
    def web_concurrency(self) -> int:
        """One uvicorn worker per 0.5 vCPU (docs/container-contract.md)."""
        return max(1, self.task_cpu // 512)

    @property
    def db_connections_per_task(self) -> int:
        """Every worker's pool plus its overflow (auth_service/adapters/postgres/database.py)."""
        return self.web_concurrency * 2 * self.db_pool_size


# With `idleOnSpot`, the base of the strategy on FARGATE_SPOT: the one task the idle stack runs.
SPOT_TASKS = 1

# Fargate's cpuArchitecture -> the platform `docker build` must produce for it (an image of the other
# architecture dies at start with "exec format error").
DOCKER_PLATFORMS = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}


_WINDOW_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


@dataclass(frozen=True)
class EventWindow:
    """A time the crowd is there: from `start` to `end` (UTC), `attendees` logging in within `arrival_minutes`.

    `arrival_minutes` = 1 is the keynote's "everyone log in now"; docs/capacity.md sizes tasks per attendee a minute.
    """

    name: str
    start: datetime
    end: datetime
    attendees: int
    arrival_minutes: float = 1.0

    def __post_init__(self) -> None:
        where = f"eventWindows[{self.name!r}]"
        if not _WINDOW_NAME.fullmatch(self.name):
            raise ValueError(f"{where}: name must be 1-40 of a-z, 0-9 and '-', starting with a letter or digit")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError(f"{where}: start and end need a time zone, e.g. 2026-12-10T09:00:00Z")
        if self.end <= self.start:
            raise ValueError(f"{where}: end {self.end.isoformat()} is not after start {self.start.isoformat()}")
        if self.attendees < 0 or self.arrival_minutes <= 0:
            raise ValueError(f"{where}: need attendees >= 0 and arrivalMinutes > 0")

    @property
    def attendees_per_minute(self) -> float:
        return self.attendees / self.arrival_minutes


@dataclass(frozen=True)
class ScalingSettings:
    # Outside event windows one task: no AZ redundancy (a lost task or AZ is an outage until its replacement is
    # healthy, ~3 minutes) and one task's CPU until target tracking adds more (docs/operations.md, "Event windows").
    min_tasks: int = 1
    max_tasks: int = 6  # bounds DB connections: pool x max tasks x deploy surge (docs/operations.md)
    cpu_target_percent: float = 60.0
    memory_target_percent: float = 75.0
    requests_per_target_per_minute: float = 600.0  # ~10 req/s per 0.5 vCPU task (argon2 logins are CPU-bound)
    scale_out_cooldown_seconds: int = 60
    scale_in_cooldown_seconds: int = 300
    event_windows: tuple[EventWindow, ...] = ()  # pre-scaled by scheduled actions (components/autoscaling.py)
    event_lead_minutes: int = DEFAULT_LEAD_MINUTES  # raise the minimum this long before a window opens

    def __post_init__(self) -> None:
        if not 1 <= self.min_tasks <= self.max_tasks:
            raise ValueError(f"need 1 <= min_tasks <= max_tasks, got {self.min_tasks}..{self.max_tasks}")
        names = [w.name for w in self.event_windows]
        if len(set(names)) != len(names):
            raise ValueError(f"eventWindows: names must be unique, got {names}")
        if self.event_lead_minutes < 0:
            raise ValueError(f"eventLeadMinutes must be >= 0, got {self.event_lead_minutes}")


@dataclass(frozen=True)
class AlarmThresholds:
    """Alarm thresholds; staging defaults sized for db.t4g.micro / cache.t4g.micro / 0.5 vCPU tasks."""

    ecs_cpu_percent: float = 80.0
    ecs_memory_percent: float = 80.0
    alb_5xx_per_minute: float = 5.0
    target_p95_seconds: float = 1.0
    unhealthy_hosts: float = 1.0
    rds_cpu_percent: float = 80.0
    rds_free_storage_bytes: float = 2.0 * GIB  # 10 % of the 20 GiB gp3 volume
    # DB_CONNECTIONS_ALARM_FRACTION of the pinned max_connections (80 on db.t4g.micro); read_alarm_thresholds
    # derives it from the instance class in use unless `alarmRdsConnections` is set
    rds_connections: float = 60.0
    redis_cpu_percent: float = 80.0
    redis_memory_percent: float = 80.0
    login_failures_per_5_minutes: float = 50.0
    throttled_logins_per_5_minutes: float = 50.0  # 429 login_throttled: an attack, or someone locked out


@dataclass(frozen=True)
class StackConfig:
    name: str  # prefix of every resource name, e.g. "auth-staging"
    network: NetworkSettings
    data: DataSettings
    compute: ComputeSettings
    scaling: ScalingSettings
    alarms: AlarmThresholds

    def __post_init__(self) -> None:
        connection_budget(self).refuse_overcommit()


@dataclass(frozen=True)
class ConnectionBudget:
    """PostgreSQL connections: what the instance allows against what the service can open at its worst."""

    max_connections: int
    peak_tasks: int  # the scaling maximum during a rolling deploy (ECS rounds maximumPercent down)
    connections_per_task: int
    alarm_threshold: float

    @property
    def usable(self) -> int:
        return self.max_connections - RDS_RESERVED_CONNECTIONS

    @property
    def peak(self) -> int:
        return self.peak_tasks * self.connections_per_task

    def refuse_overcommit(self) -> None:
        if not self.peak <= self.alarm_threshold < self.usable:
            raise ValueError(
                f"PostgreSQL connections: {self.peak_tasks} tasks (scaling maximum x deploy surge) x"
                f" {self.connections_per_task} per task = {self.peak} must stay at or below the alarm threshold"
                f" {self.alarm_threshold:g}, itself below the {self.usable} usable of max_connections"
                f" {self.max_connections}. Lower scalingMaxTasks, or raise dbInstanceClass (docs/operations.md"
                "#database-connections)"
            )


def connection_budget(config: StackConfig) -> ConnectionBudget:
    return ConnectionBudget(
        max_connections=config.data.max_connections,
        peak_tasks=config.scaling.max_tasks * config.compute.deployment_maximum_percent // 100,
        connections_per_task=config.compute.db_connections_per_task,
        alarm_threshold=config.alarms.rds_connections,
    )


def default_rds_connections_alarm(data: DataSettings) -> float:
    return float(int(data.max_connections * DB_CONNECTIONS_ALARM_FRACTION))


@dataclass(frozen=True)
class GithubOidcSettings:
    repository: str  # "owner/name"
    deploy_environment: str = "staging"
    existing_provider_arn: str | None = None  # an account has one provider per URL: reuse it if it exists

    def __post_init__(self) -> None:
        owner, _, repo = self.repository.partition("/")
        if not (owner and repo and "/" not in repo and "*" not in self.repository):
            raise ValueError(
                f"githubRepository must be 'owner/name', got {self.repository!r}"
                " (pulumi config set githubRepository <owner>/<name>, then commit the stack file)"
            )

    @property
    def pull_request_subject(self) -> str:
        return f"repo:{self.repository}:pull_request"

    @property
    def deploy_subject(self) -> str:
        return f"repo:{self.repository}:environment:{self.deploy_environment}"


@dataclass(frozen=True)
class CiIdentityConfig:
    """Settings of the bootstrap program (bootstrap/): the CI identity of one main stack."""

    name_prefix: str  # the main stack's prefix, e.g. "auth-staging"
    region: str
    github: GithubOidcSettings


# --- reading ---------------------------------------------------------------------------------------------------


def load_config() -> StackConfig:
    """Read the main stack's config once; anything unset keeps its staging default."""
    stack = pulumi.get_stack()
    config = pulumi.Config()
    _refuse_ci_identity_settings(config)
    region = _text(pulumi.Config("aws"), "region", ComputeSettings.region)
    data = read_data_settings(config)
    return StackConfig(
        name=_name_prefix(config, stack),
        network=read_network_settings(config),
        data=data,
        compute=read_compute_settings(config, stack, region),
        scaling=read_scaling_settings(config),
        alarms=read_alarm_thresholds(config, default_rds_connections_alarm(data)),
    )


def load_ci_identity_config() -> CiIdentityConfig:
    """Read the bootstrap program's config; it refuses to run without `githubRepository`."""
    config = pulumi.Config()
    return CiIdentityConfig(
        name_prefix=_name_prefix(config, pulumi.get_stack()),
        region=pulumi.Config("aws").require("region"),
        github=read_github_oidc_settings(config),
    )


def _name_prefix(config: pulumi.Config, stack: str) -> str:
    return _text(config, "namePrefix", f"auth-{stack}")


# Config keys of the CI identity, read by the bootstrap program only.
GITHUB_OIDC_KEYS = ("githubRepository", "githubDeployEnvironment", "githubOidcProviderArn")
# Keys of the CI identity in earlier versions of this stack; it now lives in the bootstrap program.
_MOVED_TO_BOOTSTRAP = ("githubOidcEnabled", "githubDeployBranch", *GITHUB_OIDC_KEYS)


def _refuse_ci_identity_settings(config: pulumi.Config) -> None:
    """The roles CI runs as are not this stack's to create or delete: say where they went instead of ignoring."""
    found = [key for key in _MOVED_TO_BOOTSTRAP if config.get(key) is not None]
    if found:
        raise ValueError(
            f"{', '.join(found)}: the GitHub OIDC roles are created by the bootstrap program (bootstrap/, "
            "docs/infra.md#ci-identity), never by this stack; remove these keys from Pulumi.<stack>.yaml"
        )


def read_network_settings(config: pulumi.Config) -> NetworkSettings:
    d = NetworkSettings()
    return NetworkSettings(
        vpc_cidr=_text(config, "vpcCidr", d.vpc_cidr),
        nat_gateway_per_az=_bool(config, "natGatewayPerAz", d.nat_gateway_per_az),
    )


def read_data_settings(config: pulumi.Config) -> DataSettings:
    d = DataSettings()
    return DataSettings(
        db_instance_class=_text(config, "dbInstanceClass", d.db_instance_class),
        db_allocated_storage_gib=_int(config, "dbAllocatedStorageGib", d.db_allocated_storage_gib),
        db_max_allocated_storage_gib=_int(config, "dbMaxAllocatedStorageGib", d.db_max_allocated_storage_gib),
        log_retention_days=_int(config, "logRetentionDays", d.log_retention_days),
        apply_immediately=_bool(config, "dataApplyImmediately", d.apply_immediately),
        db_backup_retention_days=_int(config, "dbBackupRetentionDays", d.db_backup_retention_days),
        db_multi_az=_bool(config, "dbMultiAz", d.db_multi_az),
        db_deletion_protection=_bool(config, "dbDeletionProtection", d.db_deletion_protection),
        db_identifier=config.get("dbIdentifier"),
        db_max_connections=config.get_int("dbMaxConnections"),
        cache_node_type=_text(config, "cacheNodeType", d.cache_node_type),
        cache_node_count=_int(config, "cacheNodeCount", d.cache_node_count),
        secret_recovery_window_days=_int(config, "secretRecoveryWindowDays", d.secret_recovery_window_days),
        db_password=config.get_secret("dbPassword"),
        redis_auth_token=config.get_secret("redisAuthToken"),
        jwt_private_key=config.get_secret("jwtPrivateKey"),
        jwt_next_private_key=config.get_secret("jwtNextPrivateKey"),
    )


def read_compute_settings(config: pulumi.Config, stack: str, region: str) -> ComputeSettings:
    d = ComputeSettings()
    return ComputeSettings(
        region=region,
        environment=stack,
        service_name=_text(config, "serviceName", f"aidlc-auth-{stack}"),
        jwt_issuer=_text(config, "jwtIssuer", f"aidlc-auth-{stack}"),
        jwt_audience=_text(config, "jwtAudience", d.jwt_audience),
        access_token_ttl_seconds=_int(config, "accessTokenTtlSeconds", d.access_token_ttl_seconds),
        log_level=_text(config, "logLevel", d.log_level),
        task_cpu=_int(config, "taskCpu", d.task_cpu),
        task_memory=_int(config, "taskMemory", d.task_memory),
        desired_count=_int(config, "desiredCount", d.desired_count),
        db_pool_size=_int(config, "dbPoolSize", d.db_pool_size),
        log_retention_days=_int(config, "logRetentionDays", d.log_retention_days),
        ecr_keep_images=_int(config, "ecrKeepImages", d.ecr_keep_images),
        ecr_force_delete=_bool(config, "ecrForceDelete", d.ecr_force_delete),
        cpu_architecture=_text(config, "cpuArchitecture", d.cpu_architecture),
        container_insights=_bool(config, "containerInsights", d.container_insights),
        shared_egress_cidrs=_texts(config, "sharedEgressCidrs", d.shared_egress_cidrs),
        idle_on_spot=_bool(config, "idleOnSpot", d.idle_on_spot),
    )


def read_scaling_settings(config: pulumi.Config) -> ScalingSettings:
    d = ScalingSettings()
    return ScalingSettings(
        min_tasks=_int(config, "scalingMinTasks", d.min_tasks),
        max_tasks=_int(config, "scalingMaxTasks", d.max_tasks),
        cpu_target_percent=_float(config, "scalingCpuTargetPercent", d.cpu_target_percent),
        memory_target_percent=_float(config, "scalingMemoryTargetPercent", d.memory_target_percent),
        requests_per_target_per_minute=_float(
            config, "scalingRequestsPerTargetPerMinute", d.requests_per_target_per_minute
        ),
        scale_out_cooldown_seconds=_int(config, "scalingScaleOutCooldownSeconds", d.scale_out_cooldown_seconds),
        scale_in_cooldown_seconds=_int(config, "scalingScaleInCooldownSeconds", d.scale_in_cooldown_seconds),
        event_windows=read_event_windows(config),
        event_lead_minutes=_int(config, "eventLeadMinutes", d.event_lead_minutes),
    )


def read_event_windows(config: pulumi.Config) -> tuple[EventWindow, ...]:
    """`eventWindows`: a list of {name, start, end, attendees, arrivalMinutes?}; times ISO 8601 with a zone."""
    raw = config.get_object("eventWindows") or []
    if not isinstance(raw, list):
        raise ValueError("eventWindows must be a list of {name, start, end, attendees[, arrivalMinutes]}")
    return tuple(_event_window(entry) for entry in raw)


def _event_window(entry: Any) -> EventWindow:
    if not isinstance(entry, Mapping) or not {"name", "start", "end", "attendees"} <= set(entry):
        raise ValueError(f"eventWindows: each entry needs name, start, end and attendees, got {entry!r}")
    unknown = set(entry) - {"name", "start", "end", "attendees", "arrivalMinutes"}
    if unknown:
        raise ValueError(f"eventWindows[{entry['name']!r}]: unknown keys {sorted(unknown)}")
    return EventWindow(
        name=str(entry["name"]),
        start=_utc(entry["start"], entry["name"]),
        end=_utc(entry["end"], entry["name"]),
        attendees=int(entry["attendees"]),
        arrival_minutes=float(entry.get("arrivalMinutes", 1)),
    )


def _utc(value: Any, window: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(
            f"eventWindows[{window!r}]: {value!r} is not an ISO 8601 time like 2026-12-10T09:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"eventWindows[{window!r}]: {value!r} needs a time zone, e.g. 2026-12-10T09:00:00Z")
    return moment.astimezone(UTC)


def read_alarm_thresholds(
    config: pulumi.Config, rds_connections_default: float = AlarmThresholds.rds_connections
) -> AlarmThresholds:
    d = AlarmThresholds()
    return AlarmThresholds(
        ecs_cpu_percent=_float(config, "alarmEcsCpuPercent", d.ecs_cpu_percent),
        ecs_memory_percent=_float(config, "alarmEcsMemoryPercent", d.ecs_memory_percent),
        alb_5xx_per_minute=_float(config, "alarmAlb5xxPerMinute", d.alb_5xx_per_minute),
        target_p95_seconds=_float(config, "alarmTargetP95Seconds", d.target_p95_seconds),
        unhealthy_hosts=_float(config, "alarmUnhealthyHosts", d.unhealthy_hosts),
        rds_cpu_percent=_float(config, "alarmRdsCpuPercent", d.rds_cpu_percent),
        rds_free_storage_bytes=_float(config, "alarmRdsFreeStorageBytes", d.rds_free_storage_bytes),
        rds_connections=_float(config, "alarmRdsConnections", rds_connections_default),
        redis_cpu_percent=_float(config, "alarmRedisCpuPercent", d.redis_cpu_percent),
        redis_memory_percent=_float(config, "alarmRedisMemoryPercent", d.redis_memory_percent),
        login_failures_per_5_minutes=_float(config, "alarmLoginFailuresPer5Minutes", d.login_failures_per_5_minutes),
        throttled_logins_per_5_minutes=_float(
            config, "alarmThrottledLoginsPer5Minutes", d.throttled_logins_per_5_minutes
        ),
    )


def read_github_oidc_settings(config: pulumi.Config) -> GithubOidcSettings:
    return GithubOidcSettings(
        repository=_text(config, "githubRepository", ""),
        deploy_environment=_text(config, "githubDeployEnvironment", pulumi.get_stack()),
        existing_provider_arn=config.get("githubOidcProviderArn"),
    )


# The typed getters every reader above uses: an unset key (or an empty string) keeps the default; a value of the
# wrong type is refused by Pulumi with the key's name.


def _text(config: pulumi.Config, key: str, default: str) -> str:
    return config.get(key) or default


def _texts(config: pulumi.Config, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A list of strings (a YAML list: `pulumi config set --path 'key[0]' value`), or one comma-separated string."""
    value = config.get(key)
    if not value:
        return default
    items = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"{key} must be a list of strings, got {value!r}")
    return tuple(item.strip() for item in items if item.strip())


def _int(config: pulumi.Config, key: str, default: int) -> int:
    value = config.get_int(key)
    return default if value is None else value


def _float(config: pulumi.Config, key: str, default: float) -> float:
    value = config.get_float(key)
    return default if value is None else value


def _bool(config: pulumi.Config, key: str, default: bool) -> bool:
    value = config.get_bool(key)
    return default if value is None else value


# --- the stack file ----------------------------------------------------------------------------------------------


def guard_stack_file(project_dir: Path) -> None:
    """On a real `pulumi up` (not a preview, not the offline mocks of tests and `make plan`), refuse a stack
    file that is not the one CI deploys."""
    if not pulumi.runtime.is_dry_run() and not isinstance(get_monitor(), MockMonitor):
        refuse_uncommitted_stack_file(project_dir, pulumi.get_stack())


class UncommittedStackConfig(Exception):
    """`pulumi up` from a laptop with a stack file that CI does not have."""


def refuse_uncommitted_stack_file(project_dir: Path, stack: str) -> None:
    """Deploy only the stack file everyone deploys: committed, and pushed if the branch tracks a remote.

    CI deploys from the repository. A setting made with `pulumi config set` but not committed and pushed is
    undone by CI's next `up`, and a config secret CI does not see is replaced by a generated one (a new DB
    password, Redis token or JWT key). Outside a git checkout there is nothing to compare with.
    """
    stack_file = f"Pulumi.{stack}.yaml"
    status = _git(project_dir, "status", "--porcelain", "--", stack_file)
    if status is None:
        return
    if status.strip():
        raise UncommittedStackConfig(
            f"{stack_file} has changes that are not committed: commit and push it before `pulumi up`, "
            "or CI's next deploy undoes them (docs/infra.md: the stack file is the only config)"
        )
    if _git(project_dir, "rev-parse", "--verify", "--quiet", "@{upstream}") and _git(
        project_dir, "diff", "--name-only", "@{upstream}", "--", stack_file
    ):
        raise UncommittedStackConfig(
            f"{stack_file} differs from the branch's upstream: push it before `pulumi up`, "
            "or CI's next deploy undoes the difference"
        )


def _git(directory: Path, *args: str) -> str | None:
    """Output of a git command in `directory`, or None when it fails (no git, not a checkout, no upstream)."""
    git = shutil.which("git")
    if git is None:
        return None
    try:  # fixed arguments from this module only
        done = subprocess.run([git, *args], cwd=directory, capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None
