"""The CrossGuard policies: thin wrappers that report what `rules` finds. Every policy is mandatory."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

try:  # imported as `policy.pack` by the tests
    from . import rules
except ImportError:  # run by the Pulumi CLI from inside the pack directory
    import rules  # type: ignore[no-redef]

PACK_NAME = "aidlc-auth-security"


def resource_policy(rule: rules.Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule.violations(args.resource_type, args.props):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _world_ingress_on_alb_only(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = [(r.resource_type, r.props) for r in args.resources]
    for message in rules.world_ingress_groups_are_load_balancer_groups(resources):
        report_violation(message, None)


def policies() -> list[Policy]:
    stack_policy = StackValidationPolicy(
        name=rules.WORLD_INGRESS_ON_ALB_ONLY,
        description=rules.WORLD_INGRESS_ON_ALB_ONLY_DESCRIPTION,
        validate=_world_ingress_on_alb_only,
        enforcement_level=EnforcementLevel.MANDATORY,
    )
    return [*(resource_policy(rule) for rule in rules.RULES), stack_policy]
