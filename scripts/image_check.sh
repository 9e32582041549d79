#!/usr/bin/env bash
# make image-check: build the real auth_service/Dockerfile and serve the image before AWS ever sees it.
#
# No Docker engine runs on this machine kind and no container registry is reachable, so:
#   1. the base image is a LOCAL STAND-IN for python:3.11-slim: Debian bookworm's python3.11 installed with
#      debootstrap (from this machine's apt mirror) and linked where the official image keeps its interpreter.
#      It is not the official image; the real base is built and run by the checks workflow on GitHub.
#   2. buildah builds auth_service/Dockerfile on it, unchanged (vfs storage under .image-check/, gitignored).
#   3. The image's filesystem is mounted READ-ONLY and its Cmd runs in a chroot as the image's User, with the
#      image's Env, WorkingDir and the task definition's environment (scripts/container_env.py), against the
#      local PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379).
#   4. Probes: /health/ready, the image's HEALTHCHECK command run the way Docker/ECS run it, the root
#      filesystem refuses writes, the process runs as the image's user, and scripts/smoke_test.py
#      (register -> login -> /users/me -> ... -> the account is deleted).
# Everything it mounts, starts or creates is removed on exit, success or not (trap).
#
# Needs root, buildah and debootstrap (IMAGE_CHECK_INSTALL_TOOLS=1 installs them with apt-get).
# Exit status 77 = cannot run on this machine (the reason is printed); any other non-zero = a real failure.
# Downloads during the build: a Dockerfile that declares `ARG RDS_CA_BUNDLE_URL` (the RDS CA bundle it fetches
# from AWS) gets a STAND-IN bundle (a self-signed CA certificate made here) from a local HTTP server on
# 127.0.0.1, since AWS is not reachable. Other build arguments: IMAGE_CHECK_BUILD_ARGS='--build-arg NAME=VALUE';
# @FILES_URL@ in it is replaced by that server's URL (it serves .image-check/files/).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"  # the Python helpers below import devenv and scripts from the checkout
CACHE="${IMAGE_CHECK_CACHE:-$ROOT/.image-check}"
PY="$ROOT/.venv/bin/python"
BASE_IMAGE="docker.io/library/python:3.11-slim"
IMAGE="localhost/aidlc-auth:image-check"
SUITE="bookworm"
CANNOT_RUN=77
READY_TIMEOUT=120

say() { printf '[image-check] %s\n' "$*"; }
cannot_run() { say "SKIPPED (cannot run here): $*" >&2; exit "$CANNOT_RUN"; }
fail() { say "FAILED: $*" >&2; exit 1; }
bah() { buildah --storage-driver vfs --root "$CACHE/storage" --runroot "$CACHE/run" "$@"; }

declare -A PHASE_SECONDS=()
PHASES=()
phase_start() { PHASE_NAME="$1"; PHASE_T0="$EPOCHREALTIME"; say "== $1"; }
phase_end() {
  local took
  took=$(awk -v a="$PHASE_T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  PHASE_SECONDS["$PHASE_NAME"]="$took"; PHASES+=("$PHASE_NAME")
  say "   done in ${took}s"
}

# --- cleanup: everything below registers what it created here -----------------------------------------------
SERVICE_PID="" FILES_PID="" CONTAINER="" MOUNT="" RO_BOUND="" PROC_BOUND="" DEV_BOUND="" DEBOOTSTRAP_DIR=""
DB_NAME="" KEY_PREFIX="" WORK=""
unmount() { umount "$1" 2>/dev/null || { say "   $1 is busy; detaching it lazily" >&2; umount -l "$1"; }; }
cleanup() {
  local status=$?
  set +e
  if [ -n "$SERVICE_PID" ] && kill -0 "$SERVICE_PID" 2>/dev/null; then
    kill -TERM "$SERVICE_PID"
    for _ in $(seq 50); do kill -0 "$SERVICE_PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$SERVICE_PID" 2>/dev/null && kill -KILL "$SERVICE_PID"
    wait "$SERVICE_PID" 2>/dev/null
  fi
  [ -n "$FILES_PID" ] && kill "$FILES_PID" 2>/dev/null && wait "$FILES_PID" 2>/dev/null
  [ -n "$DEV_BOUND" ] && unmount "$MOUNT/dev"
  [ -n "$PROC_BOUND" ] && unmount "$MOUNT/proc"
  [ -n "$RO_BOUND" ] && unmount "$MOUNT"
  if [ -n "$CONTAINER" ]; then bah umount "$CONTAINER" >/dev/null; bah rm "$CONTAINER" >/dev/null; fi
  [ -n "$DEBOOTSTRAP_DIR" ] && rm -rf "$DEBOOTSTRAP_DIR"
  [ -n "$DB_NAME" ] && "$PY" -c 'import asyncio, sys; from devenv.database_admin import drop_database
asyncio.run(drop_database("postgresql://postgres@127.0.0.1:5432/postgres", sys.argv[1]))' "$DB_NAME"
  [ -n "$KEY_PREFIX" ] && "$PY" -c 'import sys, redis; r = redis.Redis(host="127.0.0.1", port=6379)
keys = list(r.scan_iter(match=sys.argv[1] + "*", count=500)); keys and r.delete(*keys)' "$KEY_PREFIX"
  [ -n "$WORK" ] && rm -rf "$WORK"
  if [ "$status" -ne 0 ] && [ "$status" -ne "$CANNOT_RUN" ]; then say "FAILED (exit $status); everything it started was cleaned up" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- preconditions --------------------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || cannot_run "needs root (buildah's vfs storage, bind mounts and chroot)"
[ -x "$PY" ] || fail "no $PY; run make .venv/.installed-stamp first (make image-check does)"
if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
  if [ "${IMAGE_CHECK_INSTALL_TOOLS:-0}" = 1 ] && command -v apt-get >/dev/null; then
    say "installing buildah and debootstrap (Debian packages)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap >/dev/null \
      || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap >/dev/null; } \
      || cannot_run "buildah/debootstrap are missing and Debian's packages are not reachable"
  else
    cannot_run "buildah and debootstrap are missing: apt-get install -y buildah debootstrap"
  fi
fi
for port in 5432 6379; do
  "$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2).close()' "$port" 2>/dev/null \
    || fail "nothing listens on 127.0.0.1:$port; start the local PostgreSQL (5432) and Redis (6379) first"
done
mkdir -p "$CACHE/storage" "$CACHE/run" "$CACHE/files"
WORK="$(mktemp -d "$CACHE/work.XXXXXX")"
say "BASE IMAGE IS A STAND-IN: $BASE_IMAGE is Debian $SUITE's python3.11 built here, not the official image"
T_START="$EPOCHREALTIME"

# --- 1. the stand-in base (cached in .image-check/storage; a second run skips this) -------------------------
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  # This machine's own apt source for the suite (deb822 .sources first, then one-line sources.list).
  awk -v suite="$SUITE" '
    /^URIs:/ { uris = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) found = uris }
    /^$/ { uris = "" } END { if (found) print found }' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | grep . \
  || awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list 2>/dev/null | grep . \
  || cannot_run "no apt source for Debian $SUITE on this machine (set DEBIAN_MIRROR)"
}

phase_start "stand-in base image"
if bah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
  say "   cached: $BASE_IMAGE (stand-in) in .image-check/storage"
else
  mirror="$(debian_mirror)"
  DEBOOTSTRAP_DIR="$CACHE/rootfs.partial"
  rm -rf "$DEBOOTSTRAP_DIR"
  say "   debootstrap $SUITE (minbase + python3.11, python3-venv, ca-certificates)"
  debootstrap --variant=minbase --include=python3.11,python3-venv,ca-certificates "$SUITE" "$DEBOOTSTRAP_DIR" \
    "$mirror" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 20 "$WORK/debootstrap.log" >&2; cannot_run "debootstrap failed: Debian's packages not reachable?"; }
  # pip inside the build must trust this machine's CA bundle (the same bundle the host's pip uses).
  cp /etc/ssl/certs/ca-certificates.crt "$DEBOOTSTRAP_DIR/etc/ssl/certs/ca-certificates.crt"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$DEBOOTSTRAP_DIR/etc/pip.conf"
  ln -sf /usr/bin/python3.11 "$DEBOOTSTRAP_DIR/usr/local/bin/python"
  ln -sf /usr/bin/python3.11 "$DEBOOTSTRAP_DIR/usr/local/bin/python3"
  rm -rf "$DEBOOTSTRAP_DIR"/var/cache/apt/archives/*.deb "$DEBOOTSTRAP_DIR"/var/lib/apt/lists/*
  base="$(bah from scratch)"
  base_mount="$(bah mount "$base")"
  tar -C "$DEBOOTSTRAP_DIR" -cf - . | tar -C "$base_mount" -xf -
  bah umount "$base" >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
    --cmd python3 --label "stand-in=Debian $SUITE python3.11, not the official python:3.11-slim" "$base"
  bah commit --quiet --format docker "$base" "$BASE_IMAGE" >/dev/null
  bah rm "$base" >/dev/null
  rm -rf "$DEBOOTSTRAP_DIR"; DEBOOTSTRAP_DIR=""
fi
phase_end

# --- 2. build the real Dockerfile -----------------------------------------------------------------------------
build_spec="${IMAGE_CHECK_BUILD_ARGS:-}"
if grep -q '^ARG RDS_CA_BUNDLE_URL' "$ROOT/auth_service/Dockerfile"; then
  build_spec="--build-arg RDS_CA_BUNDLE_URL=@FILES_URL@/rds-ca-stand-in.pem $build_spec"
fi
if [[ "$build_spec" == *@FILES_URL@* ]] && [ ! -f "$CACHE/files/rds-ca-stand-in.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=Stand-in CA bundle for image-check" -keyout /dev/null -out "$CACHE/files/rds-ca-stand-in.pem" 2>/dev/null
fi

serve_stand_in_files() {  # a local HTTP server for the build's downloads; sets FILES_URL and FILES_PID
  local files_port
  files_port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$PY" -m http.server --bind 127.0.0.1 --directory "$CACHE/files" "$files_port" >"$WORK/files.log" 2>&1 &
  FILES_PID=$!
  "$PY" -c 'import socket, sys, time
for _ in range(100):
    try: socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close(); break
    except OSError: time.sleep(0.05)' "$files_port"
  FILES_URL="http://127.0.0.1:$files_port"
}

phase_start "build auth_service/Dockerfile (buildah, linux/amd64, on the stand-in base)"
[[ "$build_spec" == *RDS_CA_BUNDLE_URL=@FILES_URL@* ]] \
  && say "   the RDS CA bundle the Dockerfile downloads is a STAND-IN too (a self-signed CA made here)"
# The build's inputs: the context (without bytecode caches), the base image, the build arguments and the
# stand-in files. When they are what the cached image was built from, the build is skipped (buildah's layer
# cache alone still takes minutes with the vfs driver).
inputs_digest="$( { (cd "$ROOT/auth_service" && find . -type f ! -path '*/__pycache__/*' -print0 | sort -z \
  | xargs -0 sha256sum); bah inspect --type image --format '{{.FromImageID}}' "$BASE_IMAGE"; \
  printf '%s\n' "$build_spec"; (cd "$CACHE/files" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum); } \
  | sha256sum | cut -d' ' -f1)"
if bah inspect --type image "$IMAGE" >/dev/null 2>&1 && [ "$(cat "$CACHE/image.inputs" 2>/dev/null)" = "$inputs_digest" ]; then
  say "   cached: $IMAGE was built from exactly these inputs (sha256 $inputs_digest)"
else
  rm -f "$CACHE/image.inputs"
  build_args=()
  if [[ "$build_spec" == *@FILES_URL@* ]]; then
    serve_stand_in_files
    say "   serving the stand-in files ($CACHE/files) on $FILES_URL during the build"
    build_spec="${build_spec//@FILES_URL@/$FILES_URL}"
  fi
  read -r -a build_args <<<"$build_spec"
  bah bud --isolation chroot --network host --pull-never --layers --format docker --platform linux/amd64 \
    "${build_args[@]}" -t "$IMAGE" -f "$ROOT/auth_service/Dockerfile" "$ROOT/auth_service" >"$CACHE/build.log" 2>&1 \
    || { tail -n 40 "$CACHE/build.log" >&2; fail "buildah bud failed (log above; all of it in .image-check/build.log)"; }
  echo "$inputs_digest" >"$CACHE/image.inputs"
  if [ -n "$FILES_PID" ]; then kill "$FILES_PID"; wait "$FILES_PID" 2>/dev/null || true; FILES_PID=""; fi
fi
phase_end

# --- 3. the image's config: what Docker and ECS would run ---------------------------------------------------
# Docker's config of the built image, split into NUL-separated files the shell can read exactly.
bah inspect --type image "$IMAGE" | "$PY" -c '
import json, pathlib, sys
config, out = json.load(sys.stdin)["Docker"]["config"], pathlib.Path(sys.argv[1])
def write(name, items): (out / name).write_text("".join(f"{item}\0" for item in items))
write("user", [config.get("User") or "0"])
write("workdir", [config.get("WorkingDir") or "/"])
write("env", config.get("Env") or [])
write("cmd", (config.get("Entrypoint") or []) + (config.get("Cmd") or []))
write("health", (config.get("Healthcheck") or {}).get("Test") or [])
' "$WORK"
mapfile -d '' -t user_field <"$WORK/user"; user="${user_field[0]}"
mapfile -d '' -t workdir_field <"$WORK/workdir"; workdir="${workdir_field[0]}"
mapfile -d '' image_env <"$WORK/env"
mapfile -d '' image_cmd <"$WORK/cmd"
mapfile -d '' health_test <"$WORK/health"
[[ "$user" =~ ^[0-9]+(:[0-9]+)?$ ]] || fail "the image's USER must be numeric uid[:gid] (ECS and runAsNonRoot checks need it), got '$user'"
[ "$user" != 0 ] && [ "${user%%:*}" != 0 ] || fail "the image runs as root"
[ "${#health_test[@]}" -gt 1 ] && [ "${health_test[0]}" = CMD ] || fail "the image has no exec-form HEALTHCHECK (got: ${health_test[*]:-none})"
say "   User $user, WorkingDir $workdir, Cmd ${image_cmd[*]}, HEALTHCHECK ${health_test[*]:1}"

# --- 4. serve it: read-only root filesystem, the image's user, the task definition's environment -----------
phase_start "start the image read-only as $user against local PostgreSQL and Redis"
suffix="$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')"
DB_NAME="image_check_$suffix"
"$PY" -c 'import asyncio, sys; from devenv.database_admin import create_database
asyncio.run(create_database("postgresql://postgres@127.0.0.1:5432/postgres", sys.argv[1]))' "$DB_NAME"
KEY_PREFIX="image-check-$suffix:"
port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
(cd "$ROOT" && "$PY" -m scripts.container_env --nul --db-name "$DB_NAME" --port "$port" \
  --key-prefix "$KEY_PREFIX" --jwt-key-out "$WORK/jwt.pem" >"$WORK/task.env") 2> >(sed 's/^/   /')
mapfile -d '' task_env <"$WORK/task.env"
service_env=("${image_env[@]}" "${task_env[@]}" "JWT_PRIVATE_KEY=$(cat "$WORK/jwt.pem")")

CONTAINER="$(bah from --pull-never "$IMAGE")"
MOUNT="$(bah mount "$CONTAINER")"
mount -o bind,ro "$MOUNT" "$MOUNT" && RO_BOUND=1
mount --bind /proc "$MOUNT/proc" && PROC_BOUND=1
mount --bind /dev "$MOUNT/dev" && DEV_BOUND=1

in_image() {  # run a command in the image as its user, in its WorkingDir, with the service's environment
  env -i "${service_env[@]}" chroot --userspec="$user" "$MOUNT" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$workdir" "$@"
}
# `exec` makes the background job's PID the service's own PID (env -> chroot -> sh -> python all exec).
(exec env -i "${service_env[@]}" chroot --userspec="$user" "$MOUNT" /bin/sh -c 'cd "$1" && shift && exec "$@"' \
  sh "$workdir" "${image_cmd[@]}") >"$WORK/service.log" 2>&1 &
SERVICE_PID=$!
url="http://127.0.0.1:$port"
deadline=$((SECONDS + READY_TIMEOUT))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health/ready" 2>/dev/null || true)" = 200 ]; do
  kill -0 "$SERVICE_PID" 2>/dev/null || { tail -n 40 "$WORK/service.log" >&2; fail "the service exited before it was ready"; }
  [ "$SECONDS" -lt "$deadline" ] || { tail -n 40 "$WORK/service.log" >&2; fail "/health/ready not 200 after ${READY_TIMEOUT}s"; }
  sleep 0.5
done
say "   ok  GET /health/ready 200 on $url"
phase_end

# --- 5. probes ----------------------------------------------------------------------------------------------
phase_start "probes: health check command, read-only root, user, register -> login -> /users/me"
in_image "${health_test[@]:1}" >"$WORK/healthcheck.log" 2>&1 \
  || { cat "$WORK/healthcheck.log" >&2; fail "the image's HEALTHCHECK command failed"; }
say "   ok  HEALTHCHECK ${health_test[*]:1} exits 0"
if in_image /bin/sh -c 'touch "$1"' sh "$workdir/.write-probe" 2>/dev/null; then fail "the root filesystem accepted a write"; fi
if touch "$MOUNT/tmp/.write-probe" 2>/dev/null; then fail "the root filesystem accepted a write (as root)"; fi
say "   ok  the root filesystem refuses writes ($workdir and /tmp), and the service still serves"
running_uid="$(awk '/^Uid:/ { print $2 }' "/proc/$SERVICE_PID/status")"
[ "$running_uid" = "${user%%:*}" ] || fail "the service runs as uid $running_uid, not ${user%%:*}"
say "   ok  the service process runs as uid $running_uid"
if ! "$PY" "$ROOT/scripts/smoke_test.py" "$url" 2>&1 | sed 's/^/   /'; then
  tail -n 40 "$WORK/service.log" >&2; fail "the smoke test failed against the image"
fi
if grep -q 'Traceback' "$WORK/service.log"; then grep -n -A5 'Traceback' "$WORK/service.log" | head -n 40 >&2; fail "the service logged a traceback"; fi
phase_end

total=$(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
say "PASSED: auth_service/Dockerfile builds and serves read-only as $user (base: a LOCAL STAND-IN for python:3.11-slim)"
for name in "${PHASES[@]}"; do say "   ${PHASE_SECONDS[$name]}s  $name"; done
say "   ${total}s  total"
