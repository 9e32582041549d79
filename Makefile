# The two quickstart commands are `make test` and `make run`; both set everything up
# (virtualenv, pinned installs) on a machine that has only Python 3.11-3.13.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test test-fast run lint plan cost bench clean check-python preview up smoke logs alarms prescale destroy image-check

# Supported interpreters: the image and CI run 3.11; the pinned wheels cover 3.11-3.13. Checked before any
# virtualenv is created, so an unsupported Python stops here with a clear message instead of failing in pip.
PYTHON_MIN := 3.11
PYTHON_MAX := 3.13
define CHECK_PYTHON
@found=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
	  || { echo "make: '$(PYTHON)' is not a runnable Python. Install Python $(PYTHON_MIN)-$(PYTHON_MAX) and run make PYTHON=python3.11 ..." >&2; exit 1; }; \
	if ! printf '%s\n%s\n%s\n' "$(PYTHON_MIN)" "$$found" "$(PYTHON_MAX)" | sort -C -V; then \
	  echo "make: $(PYTHON) is Python $$found; this project supports Python $(PYTHON_MIN)-$(PYTHON_MAX). Install one and run: make PYTHON=python3.11 ..." >&2; \
	  exit 1; \
	fi
endef

## refuse a Python outside the supported range (runs before the virtualenv is created)
check-python:
	$(CHECK_PYTHON)

$(STAMP): requirements.txt requirements-dev.txt auth_service/requirements.txt
	$(CHECK_PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# `make bench` only: the fastapi-users reference app and the load generator (their pins clash with the service's).
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp

$(BENCH_STAMP): bench/requirements.txt
	$(CHECK_PYTHON)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	touch $@

## lint + architecture contracts + the whole test suite against real PostgreSQL/Redis
test: lint
	$(BIN)/python -m pytest

# Servers pointed at a closed port: a test that needs PostgreSQL or Redis and is not marked real_servers fails here.
UNREACHABLE_SERVERS := TEST_POSTGRES_ADMIN_URL=postgresql://postgres@127.0.0.1:9/postgres TEST_REDIS_URL=redis://127.0.0.1:9/0

## the tests that need no PostgreSQL, Redis or server process (no lint): the quick loop while changing code
test-fast: $(STAMP)
	$(UNREACHABLE_SERVERS) $(BIN)/python -m pytest -m "not real_servers"

## serve the API on http://127.0.0.1:8000 (/docs), starting throwaway PostgreSQL/Redis if none is reachable
run: $(STAMP)
	ENVIRONMENT=local $(BIN)/python -m devenv run

## print, offline, every resource the staging stack would create (real program under Pulumi mocks; no AWS)
plan: $(STAMP)
	$(BIN)/python -m scripts.plan

# mypy's `files` are in pyproject.toml; bootstrap/ is a second Pulumi program, checked on its own because its
# __main__ module would clash with the root program's in one run.
## ruff (lint and format check), import contracts, mypy --strict over all Python code, hadolint, zizmor
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/mypy bootstrap/__main__.py
	$(BIN)/hadolint auth_service/Dockerfile
	$(BIN)/zizmor --offline --quiet .github/workflows

## estimated monthly USD cost of the staging stack, per resource and component (offline, under mocks)
cost: $(STAMP)
	$(BIN)/python -m scripts.cost

## side-by-side load benchmark against a fastapi-users reference app (~4 min; not part of `make test`)
bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python bench/run.py

# --- deploying (README "Deploy from zero"); these need the Pulumi and AWS CLIs and AWS credentials ---------

STACK          ?= staging
REGION         ?= us-east-1
PULUMI         ?= pulumi
AWS            ?= aws
PULUMI_VERSION := $(shell sed -n 's/^pulumi==//p' requirements.txt)
POLICY_STAMP   := policy/venv/.installed-stamp

# The CLIs the deploy wrappers need, checked first (listed before the virtualenvs as prerequisites), so a missing
# or wrong CLI stops with a message before anything is installed.
.PHONY: .require-pulumi .require-aws
.require-pulumi:
	@command -v $(PULUMI) >/dev/null 2>&1 || { echo "make $(MAKECMDGOALS): needs the Pulumi CLI $(PULUMI_VERSION) (the pulumi SDK's version in requirements.txt); '$(PULUMI)' is not on PATH (README, Deploy from zero, step 1)." >&2; exit 127; }
	@v=$$($(PULUMI) version); [ "$$v" = "v$(PULUMI_VERSION)" ] || { echo "make $(MAKECMDGOALS): the Pulumi CLI is $$v but the SDK is $(PULUMI_VERSION); install the CLI $(PULUMI_VERSION) (README, Deploy from zero, step 1)." >&2; exit 1; }
.require-aws:
	@command -v $(AWS) >/dev/null 2>&1 || { echo "make $(MAKECMDGOALS): needs the AWS CLI v2, logged in to the account; '$(AWS)' is not on PATH (README, Deploy from zero, steps 1 and 5)." >&2; exit 127; }

$(POLICY_STAMP): policy/requirements.txt
	$(CHECK_PYTHON)
	$(PYTHON) -m venv policy/venv
	policy/venv/bin/python -m pip install --quiet -r policy/requirements.txt
	touch $@

# The database's URN: `protect`ed in the program, unprotected only by `make destroy`.
DB_URN := urn:pulumi:$(notdir $(STACK))::aidlc-auth::aidlc:data:Data$$aws:rds/instance:Instance::auth-$(notdir $(STACK))-db
# A plan that deletes or replaces the database stops here (scripts/refuse_db_replacement.py).
REFUSE_DB_REPLACEMENT = $(PULUMI) preview --stack $(STACK) --json | $(BIN)/python -m scripts.refuse_db_replacement

## pulumi preview of the stack with the policy pack (what CI comments on pull requests); refuses a plan that replaces the database
preview: .require-pulumi $(STAMP) $(POLICY_STAMP)
	$(REFUSE_DB_REPLACEMENT)
	$(PULUMI) preview --stack $(STACK) --policy-pack policy --diff

# `pulumi up` succeeds on a service the ECS circuit breaker rolled back; scripts/deployment.py fails unless the
# service's PRIMARY deployment runs the task definition this `up` created, rollout COMPLETED.
## pulumi up with the policy pack (a plan that replaces the database is refused first), the check that the service runs what it deployed, the smoke test, the release tag
up: .require-pulumi $(STAMP) $(POLICY_STAMP)
	$(REFUSE_DB_REPLACEMENT)
	$(PULUMI) up --stack $(STACK) --policy-pack policy
	$(BIN)/python -m scripts.deployment verify --region $(REGION) \
	    --cluster "$$($(PULUMI) stack output cluster_name --stack $(STACK))" \
	    --service "$$($(PULUMI) stack output service_name --stack $(STACK))" \
	    --task-definition "$$($(PULUMI) stack output task_definition_arn --stack $(STACK))"
	$(MAKE) smoke
	$(BIN)/python -m scripts.deployment mark-released --region $(REGION) \
	    --task-definition "$$($(PULUMI) stack output task_definition_arn --stack $(STACK))"

## the end-to-end smoke test against the stack's service_url (registers, checks, then deletes its account)
smoke: .require-pulumi
	$(PYTHON) scripts/smoke_test.py "$$($(PULUMI) stack output service_url --stack $(STACK))" --wait 300

## follow the service's logs (CloudWatch Logs, last 30 minutes, then live)
logs: .require-pulumi .require-aws
	$(AWS) logs tail "$$($(PULUMI) stack output log_group_name --stack $(STACK))" --region $(REGION) --since 30m --follow

## this stack's alarms in ALARM state and the recent state changes (no SNS: this is how you see them)
alarms: .require-pulumi .require-aws
	$(PYTHON) -m scripts.alarms --prefix "auth-$(notdir $(STACK))" --region $(REGION) \
	    --dashboard-url "$$($(PULUMI) stack output dashboard_url --stack $(STACK))"

## a crowd nobody scheduled: raise the auto-scaling minimum to TASKS now, no deploy (make prescale TASKS=6)
prescale: .require-tasks .require-pulumi .require-aws
	cluster=$$($(PULUMI) stack output cluster_name --stack $(STACK)) && service=$$($(PULUMI) stack output service_name --stack $(STACK)) && \
	$(AWS) application-autoscaling register-scalable-target --region $(REGION) --service-namespace ecs \
	    --scalable-dimension ecs:service:DesiredCount --resource-id "service/$$cluster/$$service" --min-capacity $(TASKS) && \
	$(AWS) application-autoscaling describe-scalable-targets --region $(REGION) --service-namespace ecs \
	    --resource-ids "service/$$cluster/$$service" --query 'ScalableTargets[0].[MinCapacity,MaxCapacity]' --output text

.PHONY: .require-tasks
.require-tasks:
	@case "$(TASKS)" in ''|*[!0-9]*|0) echo "make prescale: say how many tasks, e.g. make prescale TASKS=6 (docs/operations.md, Event windows)" >&2; exit 2;; esac

# ACCOUNT=<email> and/or IP=<address>; LOCAL=1 for the service of `make run` (its PostgreSQL and Redis).
.PHONY: unblock
UNBLOCK_ARGS = $(if $(ACCOUNT),--account '$(ACCOUNT)') $(if $(IP),--ip '$(IP)')

## lift a throttle: make unblock ACCOUNT=<email> | IP=<address> (the stack: an ECS task of the service; LOCAL=1: here)
unblock: $(if $(LOCAL),$(STAMP),.require-pulumi .require-aws)
	@[ -n "$(ACCOUNT)$(IP)" ] || { echo "make unblock: name ACCOUNT=<email> and/or IP=<address> (LOCAL=1 for make run's service)" >&2; exit 2; }
ifdef LOCAL
	$(BIN)/python -m devenv unblock $(UNBLOCK_ARGS)
else
	$(PYTHON) -m scripts.unblock --region $(REGION) $(UNBLOCK_ARGS) \
	    --cluster "$$($(PULUMI) stack output cluster_name --stack $(STACK))" \
	    --service "$$($(PULUMI) stack output service_name --stack $(STACK))" \
	    --log-group "$$($(PULUMI) stack output log_group_name --stack $(STACK))"
endif

## delete every resource of the stack: unprotects the database, then asks to confirm (RDS takes a final snapshot; README, teardown)
destroy: .require-pulumi
	@echo "make destroy: unprotecting the database; if you then answer no, the next make up protects it again."
	$(PULUMI) state unprotect --stack $(STACK) --yes '$(DB_URN)'
	$(PULUMI) destroy --stack $(STACK)

# --- the container image, built and served here (no Docker engine: buildah on a stand-in base) -----------

## build auth_service/Dockerfile with buildah and serve it read-only against local PostgreSQL/Redis (root)
image-check: $(STAMP)
	scripts/image_check.sh

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .ruff_cache .mypy_cache .image-check
