"""Run Pulumi code offline under recording mocks: the whole program (`run_offline`) or one component (`build`).

No AWS, no Pulumi CLI, no Docker: every resource registration and invoke is answered by
`RecordingMocks`, which returns plausible computed outputs (ARNs, DNS names, digests) and
remembers every generated secret so tests can look for leaks. A stack transformation records each
resource's options (`depends_on`, `protect`), so the graph knows the creation order the engine would
follow: explicit `depends_on` plus the implicit edges of inputs that carry another resource's output.
Only Pulumi's public testing API is used: `reset_options` and `set_mocks` start each run with a fresh
root stack, and `pulumi.runtime.test` waits for every registration, apply and invoke the run started.
Used by tests/infra, `make plan`, `make cost` and scripts/container_env.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pulumi.runtime import mocks as pulumi_mocks

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "aidlc-auth"
ACCOUNT = "123456789012"
REGION = "us-east-1"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]

# How a secret input arrives in Mocks.new_resource: wrapped with Pulumi's secret signature (the SDK keeps
# these constants private).
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"
SECRET = "aws:secretsmanager/secret:Secret"
STACK_REFERENCE = "pulumi:pulumi:StackReference"


Key = tuple[str, str]  # (type, logical name): unique in a stack, unlike the logical name alone
T = TypeVar("T")


def _parent_types(urn: str) -> list[str]:
    """Types of the ancestors, outermost first, read from the URN (`a$b$own-type::name`)."""
    qualified_type = urn.split("::")[2]
    return qualified_type.split("$")[:-1]


@dataclass
class Resource:
    typ: str
    name: str
    inputs: dict[str, Any]  # raw: secret inputs still wrapped
    state: dict[str, Any]
    custom: bool
    urn: str = ""
    depends_on: set[Key] = field(default_factory=set)  # explicit `depends_on` of the program
    protect: bool = False

    @property
    def key(self) -> Key:
        return (self.typ, self.name)

    @property
    def parent_type(self) -> str:
        """Type of the direct parent, from the URN (`parentType$type`)."""
        parents = _parent_types(self.urn)
        return parents[-1] if parents else ""

    @property
    def plain(self) -> dict[str, Any]:
        """Inputs with secret wrappers removed, for asserting on values."""
        plain: dict[str, Any] = unwrap_secrets(self.inputs)
        return plain


@dataclass
class StackGraph:
    resources: list[Resource]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    generated_secrets: dict[str, str] = field(default_factory=dict)
    program: dict[str, Any] = field(default_factory=dict)  # __main__.py's globals (the components)

    def of_type(self, typ: str) -> list[Resource]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str) -> Resource:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected exactly one {typ}, found {[r.name for r in found]}"
        return found[0]

    def by_name(self, name: str) -> Resource:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected exactly one resource named {name}, found {len(found)}"
        return found[0]

    def by_id(self, resource_id: str) -> Resource:
        found = [r for r in self.resources if r.state.get("id") == resource_id]
        assert len(found) == 1, f"no single resource with id {resource_id}"
        return found[0]

    def name_of(self, resource_id: str) -> str:
        """Logical name of the resource a reference (an id) points to."""
        return self.by_id(resource_id).name

    def subnets(self, tier: str) -> list[Resource]:
        return [s for s in self.of_type("aws:ec2/subnet:Subnet") if s.plain["tags"]["tier"] == tier]

    def security_group(self, label: str) -> Resource:
        groups = self.of_type("aws:ec2/securityGroup:SecurityGroup")
        (group,) = [g for g in groups if g.name.endswith(f"-{label}")]
        return group

    def component(self, variable: str) -> Any:
        """A component object from __main__.py, e.g. `component("compute")`."""
        return self.program[variable]

    def get(self, key: Key) -> Resource:
        (found,) = [r for r in self.resources if r.key == key]
        return found

    def direct_prerequisites(self, resource: Resource) -> set[Key]:
        """What the engine must create before `resource`: explicit `depends_on` and every resource whose
        computed output (id, ARN, address, ...) appears in its inputs."""
        produced_by = self._produced_by()
        used = {produced_by[text] for text in _leaf_strings(resource.plain) if text in produced_by}
        return (used | resource.depends_on) - {resource.key}

    def prerequisites(self, resource: Resource) -> set[Key]:
        """Everything created before `resource`: the transitive closure of `direct_prerequisites`."""
        seen: set[Key] = set()
        pending = [resource.key]
        while pending:
            for key in self.direct_prerequisites(self.get(pending.pop())) - seen:
                seen.add(key)
                pending.append(key)
        return seen

    def _produced_by(self) -> dict[str, Key]:
        """Each computed output string (not echoed from the inputs, not the autoname) -> the resource producing it."""
        outputs: dict[str, Key] = {}
        for r in self.resources:
            if not r.custom:
                continue
            for name, value in r.state.items():
                if name != "name" and isinstance(value, str) and r.inputs.get(name) != value:
                    outputs[value] = r.key
        return outputs


def _leaf_strings(value: Any) -> Iterator[str]:
    """Every string in an input tree, looking inside JSON documents (policies, container definitions)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaf_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaf_strings(item)
    elif isinstance(value, str):
        yield value
        if value[:1] in "[{":
            try:
                yield from _leaf_strings(json.loads(value))
            except ValueError:
                pass


def is_secret_wrapper(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE


def unwrap_secrets(value: Any) -> Any:
    if is_secret_wrapper(value):
        return unwrap_secrets(value.get("value"))
    if isinstance(value, dict):
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


class RecordingMocks(pulumi_mocks.Mocks):
    """Answers every registration with its inputs plus the computed outputs the program reads."""

    def __init__(self, stack_references: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.stack_references = dict(stack_references or {})  # "org/project/stack" -> that stack's outputs
        self.resources: list[Resource] = []
        self.generated_secrets: dict[str, str] = {}
        self.options: dict[Key, tuple[set[Key], bool]] = {}  # filled by `record_options`

    def record_options(self, args: pulumi.ResourceTransformationArgs) -> None:
        """Stack transformation: what the program asked for in `opts` (the mock monitor never sees it)."""
        depends_on = args.opts.depends_on or []
        dependencies: list[object] = depends_on if isinstance(depends_on, list) else [depends_on]
        keys = set()
        for dependency in dependencies:
            if not isinstance(dependency, pulumi.Resource):
                raise NotImplementedError(f"{args.name}: depends_on holds {dependency!r}, not a resource")
            keys.add((dependency.pulumi_resource_type, dependency.pulumi_resource_name))
        self.options[(args.type_, args.name)] = (keys, bool(args.opts.protect))

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(args.inputs["name"])
        computed = self._computed(args.typ, args.name, args.inputs)
        # AWS's id of a secret is its ARN (SecretVersion's `secretArn` echoes its `secretId`).
        resource_id = computed["arn"] if args.typ == SECRET else f"{args.name}-{args.typ.split(':')[-1].lower()}-id"
        state = {**args.inputs, **computed, "id": resource_id}
        depends_on, protect = self.options.get((args.typ, args.name), (set(), False))
        self.resources.append(
            Resource(args.typ, args.name, args.inputs, state, bool(args.custom), "", depends_on, protect)
        )
        return resource_id, state

    def _stack_reference(self, stack: str) -> tuple[str, dict[str, Any]]:
        """What the engine reads for a StackReference: the referenced stack's outputs (none of them secret)."""
        if stack not in self.stack_references:
            raise NotImplementedError(f"no mock outputs for the stack reference {stack!r}")
        return stack, {"name": stack, "outputs": dict(self.stack_references[stack]), "secretOutputNames": []}

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return self._invoke_result(args.token), []  # no check failures

    def _invoke_result(self, invoke: str) -> dict[str, Any]:
        if invoke == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": ZONES, "zoneIds": ["use1-az1", "use1-az2", "use1-az4"], "id": REGION}
        if invoke == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/offline",
                "userId": "offline",
                "id": ACCOUNT,
            }
        if invoke == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            password = self._secret("ecr-registry-password", f"ecr-token-{uuid.uuid4().hex}")
            return {
                "userName": "AWS",
                "password": password,
                "authorizationToken": f"QVdTOg-{password}",
                "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{REGION}.example",
                "id": REGION,
            }
        raise NotImplementedError(f"no mock for invoke {invoke}")

    def _secret(self, label: str, value: str) -> str:
        self.generated_secrets[label] = value
        return value

    def _computed(self, typ: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        physical = inputs.get("name") or f"{name}-1a2b3c4"
        service = typ.split(":")[1].split("/")[0]
        computed: dict[str, Any] = {
            "name": physical,
            "arn": f"arn:aws:{service}:{REGION}:{ACCOUNT}:{typ.split(':')[-1].lower()}/{physical}",
        }
        computed.update(self._type_specific(typ, name, physical, inputs))
        return computed

    def _type_specific(self, typ: str, name: str, physical: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        if typ == "random:index/randomPassword:RandomPassword":
            return {"result": self._secret(name, f"GeneratedSecret{uuid.uuid4().hex}")}
        if typ == "random:index/randomId:RandomId":
            return {"hex": "a1b2c3d4", "b64Url": "obLD1A"}
        if typ == "tls:index/privateKey:PrivateKey":
            pem = self._secret(name, _ed25519_pkcs8_pem(seed=name))
            return {"privateKeyPem": pem, "privateKeyPemPkcs8": pem, "publicKeyPem": "public"}
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            return {"arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{physical}"}
        if typ == SECRET:
            return {"arn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{physical}-AbCdEf"}
        if typ == "aws:secretsmanager/secretVersion:SecretVersion":
            return {"secretArn": inputs["secretId"], "versionId": f"{name}-version-1"}
        if typ == "aws:ssm/parameter:Parameter":  # a hierarchical name starts with "/": no second slash
            return {"arn": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{physical}", "version": 1.0}
        if typ == "aws:lb/loadBalancer:LoadBalancer":
            return {
                "dnsName": f"{physical}-123456789.{REGION}.elb.amazonaws.com",
                "arnSuffix": f"app/{physical}/50dc6c495c0c9188",
            }
        if typ == "aws:lb/targetGroup:TargetGroup":
            return {"arnSuffix": f"targetgroup/{physical}/73e2d6bc24d8a067"}
        if typ == "aws:rds/instance:Instance":
            identifier = inputs.get("identifier") or physical
            return {"address": f"{identifier}.abcdefghij.{REGION}.rds.amazonaws.com", "identifier": identifier}
        if typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            return {"primaryEndpointAddress": f"master.{physical}.abcdef.use1.cache.amazonaws.com"}
        if typ == "aws:ecr/repository:Repository":
            return {
                "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{physical}",
                "registryId": ACCOUNT,
            }
        if typ == "docker:index/image:Image":
            return {"repoDigest": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}@sha256:{'ab' * 32}"}
        return {}


def staging_config(stack_file: Path = ROOT / "Pulumi.staging.yaml") -> dict[str, str]:
    """The stack file's config as `set_all_config` wants it (strings; objects as JSON)."""
    raw = yaml.safe_load(stack_file.read_text())["config"]
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in raw.items()}


@contextmanager
def _in_repo_root() -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(previous)


def run_offline(
    stack: str = "staging",
    config_overrides: Mapping[str, str] | None = None,
    secret_config: Mapping[str, str] | None = None,
    program_dir: Path = ROOT,
    stack_config: Mapping[str, str] | None = None,
) -> StackGraph:
    """Run a program (the stack's __main__.py unless told) under fresh mocks; return what it registered and exported.

    `stack_config` replaces the committed stack file (Pulumi.<stack>.yaml beside the program) as the base config.
    """
    base = stack_config if stack_config is not None else staging_config(program_dir / f"Pulumi.{stack}.yaml")
    config = {**base, **(config_overrides or {}), **(secret_config or {})}
    program: dict[str, Any] = {}

    def run_main() -> None:
        program.update(runpy.run_path(str(program_dir / "__main__.py"), run_name="__main__"))

    with _in_repo_root():
        mocks, root = _run_under_mocks(run_main, _project_name(program_dir), stack, config, list(secret_config or {}))
    outputs, secret_outputs = _await(lambda: _exports(getattr(root, "outputs", {})))
    return StackGraph(mocks.resources, outputs, secret_outputs, mocks.generated_secrets, program)


@dataclass(frozen=True)
class Recorded:
    """One resource a component built in isolation registered; inputs and state with secret wrappers removed."""

    typ: str
    name: str
    inputs: dict[str, Any]
    urn: str = ""
    state: dict[str, Any] = field(default_factory=dict)  # what the mocks answered (inputs + computed outputs)

    @property
    def parent_types(self) -> list[str]:
        """Types of the ancestors, outermost first, read from the URN (`a$b$this-type::name`)."""
        return _parent_types(self.urn)


def build(
    program: Callable[[], object],
    stack: str = "staging",
    config: Mapping[str, str] | None = None,
    stack_references: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Recorded]:
    """Run `program` (typically one component's constructor, with inputs the test chooses) under fresh mocks until
    every registration finished; return what it registered. `config` defaults to the committed stack file's;
    `stack_references` answers each `pulumi.StackReference(name)` with the outputs given for that name."""

    def run() -> None:
        program()

    mocks, _ = _run_under_mocks(
        run, PROJECT, stack, staging_config() if config is None else config, [], stack_references
    )
    return [Recorded(r.typ, r.name, r.plain, r.urn, unwrap_secrets(r.state)) for r in mocks.resources]


def of_type(resources: list[Recorded], typ: str) -> list[Recorded]:
    return [r for r in resources if r.typ == typ]


def _run_under_mocks(
    program: Callable[[], None],
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str],
    stack_references: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[RecordingMocks, pulumi.Resource | None]:
    """Run `program` against a fresh root stack and fresh mocks; return the mocks (what was registered) and
    the root stack (what was exported)."""
    pulumi.runtime.set_all_config(dict(config), secret_keys)
    pulumi.runtime.reset_options(project=project, stack=stack)  # forget the previous run's root stack
    mocks = RecordingMocks(stack_references)
    monitor = pulumi_mocks.MockMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    root = pulumi.runtime.get_root_resource()
    pulumi.runtime.register_stack_transformation(mocks.record_options)
    _until_settled(program)
    _attach_urns(mocks.resources, monitor)
    return mocks, root


def _until_settled(program: Callable[[], object]) -> None:
    """Call `program`, then wait for every registration, invoke and apply it started and for the Output (or
    awaitable) it returns: what `@pulumi.runtime.test` does around a test function."""
    wait_like_a_test: Callable[[Callable[[], object]], Callable[[], None]] = pulumi.runtime.test
    wait_like_a_test(program)()


def _await(awaitable: Callable[[], Awaitable[T]]) -> T:
    """The result of an awaitable that reads a finished run (an Output's value or secrecy), on Pulumi's loop."""
    results: list[T] = []

    async def capture() -> None:
        results.append(await awaitable())

    _until_settled(capture)
    return results[0]


def _project_name(program_dir: Path) -> str:
    name: str = yaml.safe_load((program_dir / "Pulumi.yaml").read_text())["name"]
    return name


def resolve(value: Any) -> Any:
    """The value of an Output (or plain value) of a finished offline run."""
    return _await(lambda: pulumi.Output.from_input(value).future())


async def _exports(exported: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, value in exported.items():
        output = pulumi.Output.from_input(value)
        values[key] = await output.future()
        if await output.is_secret():
            secrets.add(key)
    return values, secrets


def _attach_urns(resources: list[Resource], monitor: pulumi_mocks.MockMonitor) -> None:
    by_type_and_name = {(r.typ, r.name): r for r in resources}
    for urn in monitor.get_registered_resources():
        qualified_type, name = urn.split("::")[2], urn.split("::")[3]
        resource = by_type_and_name.get((qualified_type.split("$")[-1], name))
        if resource is not None:
            resource.urn = urn


def _ed25519_pkcs8_pem(seed: str) -> str:
    """The same key for the same resource in every run, as a real stack keeps its key from one `up` to the next:
    outputs derived from it (the public JWKS) are then the same in every run of one program."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"offline-{seed}".encode()).digest())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
