#!/usr/bin/env bash
# The image and the compose stack, built and run for real (make container-test, run by
# make test). With podman (../shared/containers/setup-podman.sh makes this machine kind
# ready; it runs here when present and we are root) or a Docker engine:
#   1. builds compose/Dockerfile (the layer cache makes a rerun quick);
#   2. the CI workflow's docker job: train into a volume, serve, the health check turns
#      healthy, a prediction, uid 10001;
#   3. from a copy of the repository, the course's own commands: `cp .env.example .env`
#      and `docker-compose up --build -d` with every service whose image can exist here
#      (Prometheus, Pushgateway and Alertmanager as stand-ins from Debian's packages, MLflow
#      from ../shared/mlflow-server, under the official names; Grafana cannot run here):
#      the trainer registers and mirrors, mlops-api serves MLflow's production model,
#      /crm_segment_update reaches the crm service, Prometheus has every target up;
#   4. the Kubernetes Deployment's security context on the compose network (read-only
#      root, all capabilities dropped, no-new-privileges, /data on a tmpfs, the ConfigMap's
#      environment): serve, predict, train and crm-sync --shard i/4 all work.
# Without podman or Docker it says why it did not run and exits 0.
#   tests/containers/container_test.sh            (CONTAINER_ENGINE=podman|docker to choose)
#   tests/containers/container_test.sh --prepare-in-background DIR
#       starts the engine set-up and the stand-in images (downloads, mostly) in the
#       background, logging to DIR/container-prepare.log, and returns at once; the next
#       full run waits for it. make test starts it before compiling, so the two overlap.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck source=tests/deploy/lib.sh
. tests/deploy/lib.sh  # free_port
say() { printf '== %s\n' "$*"; }
fail() {
  [ -s "${work:-}/run.log" ] && tail -20 "$work/run.log" >&2
  printf 'container-test: FAILED: %s\n' "$*" >&2
  exit 1
}
started=$(date +%s)

# The shared folder beside the project (../shared), found from a clone made deeper too.
shared=""
dir="$root"
while [ "$dir" != / ]; do
  dir="$(dirname "$dir")"
  if [ -d "$dir/shared/containers" ]; then shared="$dir/shared"; break; fi
done

engine="${CONTAINER_ENGINE:-}"
if [ -z "$engine" ]; then
  if command -v podman >/dev/null 2>&1; then engine=podman
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then engine=docker
  elif [ -n "$shared" ] && [ "$(id -u)" = 0 ]; then engine=podman
  else
    echo "container-test: not run: no podman and no reachable Docker engine here" \
         "(install podman: sudo bash ../shared/containers/setup-podman.sh, or start Docker)"
    exit 0
  fi
fi
mode=full
case "${1:-}" in
  --prepare-in-background)
    mkdir -p "${2:?usage: $0 --prepare-in-background DIR}"
    setsid "$root/tests/containers/container_test.sh" --prepare >"$2/container-prepare.log" 2>&1 </dev/null &
    echo $! >"$2/container-prepare.pid"
    echo "container-test: preparing $engine and the stand-in images in the background ($2/container-prepare.log)"
    exit 0 ;;
  --prepare) mode=prepare ;;
  "") ;;
  *) fail "unknown argument '$1' (see the header of $0)" ;;
esac
if [ "$mode" = full ] && [ -f "${BUILD_DIR:-build}/container-prepare.pid" ]; then
  pid=$(cat "${BUILD_DIR:-build}/container-prepare.pid")
  rm -f "${BUILD_DIR:-build}/container-prepare.pid"
  # (still running, and still this script: a pid from an old run may belong to another program now)
  if kill -0 "$pid" 2>/dev/null && grep -qa container_test.sh "/proc/$pid/cmdline" 2>/dev/null; then
    say "waiting for the background preparation ($pid)"
    deadline=$(( $(date +%s) + 1200 ))
    while kill -0 "$pid" 2>/dev/null; do
      [ "$(date +%s)" -lt "$deadline" ] || fail "the background preparation did not end in 20 min"
      sleep 2
    done
  fi
  cat "${BUILD_DIR:-build}/container-prepare.log" 2>/dev/null || true  # what it did; a failure shows again below
fi

if [ "$engine" = podman ] && [ -n "$shared" ] && [ "$(id -u)" = 0 ]; then
  bash "$shared/containers/setup-podman.sh"  # idempotent: podman, its settings, the Debian base images
fi
command -v "$engine" >/dev/null 2>&1 || fail "$engine is not installed"
if [ "$mode" = full ]; then
  mlops="${MLOPS:-$root/build/cli/mlops}"
  [ -x "$mlops" ] || fail "no $mlops: make build first (or MLOPS=PATH)"
  mlops=$(realpath "$mlops")  # the compose part runs from a copy of the repository
  command -v docker-compose >/dev/null 2>&1 || fail "docker-compose is not installed (make deps installs it)"
fi

work=$(mktemp -d /tmp/mlops-container-test.XXXXXX)
project="mlopsct$$"
name="$project-api"
volume="$project-data"
service_pid=""
health_pid=""
cleanup() {
  set +e
  # One at a time (podman's rm stops at a name that is already gone), and before compose
  # down: the locked-down container sits on the compose network.
  for container in "$project-k8s" "$name"; do "$engine" rm -f "$container" >/dev/null 2>&1; done
  if [ -f "$work/repo/.env" ]; then
    (cd "$work/repo" && timeout 120 docker-compose down -v --remove-orphans >/dev/null 2>&1)
  fi
  "$engine" volume rm -f "$volume" >/dev/null 2>&1
  [ -n "$health_pid" ] && kill "$health_pid" 2>/dev/null
  [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Waits until a command succeeds: wait_for SECONDS WHAT COMMAND...
wait_for() {
  local seconds=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$what: not within ${seconds}s"
    sleep 1
  done
}
healthy() {  # podman has no systemd timer here: its health checks run when asked
  if [ "$engine" = podman ]; then podman healthcheck run "$1"
  else [ "$(docker inspect --format '{{.State.Health.Status}}' "$1")" = healthy ]; fi
}
predict() { curl -fsS "http://127.0.0.1:$1/predict" -H 'Content-Type: application/json' \
  -d '{"features":[5.2,1.3,7.7,2.0,3.1,4.4,1.0,8.2,2.5,6.0]}'; }
build_flags=()
[ "$engine" = podman ] && build_flags=(--format docker)  # OCI format drops HEALTHCHECK

standin() {  # standin IMAGE BUILD-ARGS... : build unless a real image of that name is here
  local image=$1; shift
  if "$engine" image inspect "$image" >/dev/null 2>&1; then
    if [ -z "$("$engine" image inspect "$image" --format '{{index .Config.Labels "org.mlops.standin"}}' 2>/dev/null)" ]; then
      echo "$image: the real image is here"; return 0
    fi
  fi
  "$engine" build "${build_flags[@]}" -q -t "$image" "$@" >/dev/null
  echo "$image: stand-in ready"
}
image_of() { awk -v s="  $1:" '$0 == s {f=1; next} f && /^    image:/ {print $2; exit}' compose/docker-compose.yml; }
# The images the compose file names that only registries have, as stand-ins under the
# official names (built from Debian's packages and ../shared/mlflow-server).
standins() {
  say "stand-in images under the official names"
  for target in prometheus pushgateway alertmanager; do
    standin "$(image_of "$target")" -f tests/containers/standins.Dockerfile --target "$target" tests/containers
  done
  if [ -z "$shared" ] || [ ! -f "$shared/mlflow-server/setup.sh" ]; then
    fail "no ../shared/mlflow-server to build the MLflow stand-in from"
  fi
  mkdir "$work/mlflow-context"
  cp -a "$shared/mlflow-server/." "$work/mlflow-context/"
  standin "$(image_of mlflow)" -f tests/containers/mlflow.Dockerfile "$work/mlflow-context"
}

if [ "$mode" = prepare ]; then
  standins
  echo "container-test: prepared"
  exit 0
fi

# 1. The image
say "build compose/Dockerfile with $engine"
t0=$(date +%s)
"$engine" build "${build_flags[@]}" -q -f compose/Dockerfile -t mlops:local . >/dev/null
build_seconds=$(( $(date +%s) - t0 ))
size=$("$engine" image inspect mlops:local --format '{{.Size}}')
echo "image mlops:local built in ${build_seconds}s, $(( size / 1000000 )) MB"

# 2. The CI workflow's docker job
say "train into a volume, serve, healthy, predict, uid 10001"
"$engine" volume create "$volume" >/dev/null
"$engine" run --rm -v "$volume:/data" mlops:local train --n-samples 500 --register --stage Production >/dev/null 2>>"$work/run.log"
api_port=$(free_port)
# (podman without systemd logs that it cannot add a health check timer: we run the checks)
"$engine" run -d --name "$name" -p "127.0.0.1:$api_port:8000" -v "$volume:/data" mlops:local serve >/dev/null 2>>"$work/run.log"
wait_for 60 "the container's health check" healthy "$name"
predict "$api_port" | grep -q '"prediction"' || fail "no prediction from the container"
[ "$("$engine" exec "$name" id -u)" = 10001 ] || fail "the container does not run as uid 10001"
"$engine" rm -f "$name" >/dev/null 2>>"$work/run.log"
echo "healthy, predicts, uid 10001"

# 3. The compose stack, from a copy of the repository, as the course starts it
standins

if [ "$engine" = podman ]; then  # docker-compose drives podman through its Docker API
  podman system service --time=0 "unix://$work/podman.sock" >"$work/podman-service.log" 2>&1 &
  service_pid=$!
  export DOCKER_HOST="unix://$work/podman.sock"
  wait_for 30 "podman's Docker API" curl -fsS --unix-socket "$work/podman.sock" http://d/_ping
  # The engine's health timer, which podman runs through systemd: every running container
  # of the project that has a health check gets it run every two seconds.
  (
    while :; do
      for id in $(podman ps -q --filter "label=com.docker.compose.project=$project"); do
        podman healthcheck run "$id" >/dev/null 2>&1 || true
      done
      sleep 2
    done
  ) &
  health_pid=$!
fi

# mlops doctor sees the engine docker-compose uses as ready
{ "$mlops" doctor --json || true; } | /usr/bin/python3 -c '
import json, sys
docker = [c for c in json.load(sys.stdin)["checks"] if c["name"] == "docker"][0]
sys.exit(0 if docker["status"] == "ok" and "docker ready" in docker["detail"] else f"mlops doctor: {docker}")'

mkdir "$work/repo"
git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$work/repo"
cd "$work/repo"
cp .env.example .env
ports=()
for key in API CRM MLFLOW PROMETHEUS PUSHGATEWAY ALERTMANAGER GRAFANA; do
  port=$(free_port)
  ports+=("$port")
  sed -i "s/^${key}_HOST_PORT=.*/${key}_HOST_PORT=$port/" .env
done
sed -i "s/^MLOPS_RELOAD_INTERVAL=.*/MLOPS_RELOAD_INTERVAL=2/" .env  # the rollout below, in seconds not minutes
echo "COMPOSE_PROJECT_NAME=$project" >>.env
read -r api_port crm_port mlflow_port prometheus_port _ alertmanager_port _ <<<"${ports[*]}"
services=(trainer mlops-api crm mlflow prometheus pushgateway alertmanager)
echo "grafana: not started: its image exists only in a registry this machine cannot reach" \
     "(the dashboard and provisioning are checked by monitoring.configs and unit/observability)"
say "docker-compose up --build -d ${services[*]}"
t0=$(date +%s)
timeout 900 docker-compose up --build -d "${services[@]}" >"$work/compose-up.log" 2>&1 \
  || { tail -30 "$work/compose-up.log"; docker-compose logs --tail 30 >&2 || true; fail "docker-compose up"; }
api() { curl -fsS "http://127.0.0.1:$api_port$1"; }
wait_for 120 "mlops-api ready" api /ready
healthy_seconds=$(( $(date +%s) - t0 ))
[ "$(docker-compose ps -q trainer | xargs "$engine" inspect --format '{{.State.ExitCode}}')" = 0 ] \
  || fail "the trainer did not exit 0"
mlflow_get() { curl -fsS "http://127.0.0.1:$mlflow_port/api/2.0/mlflow/$1"; }
mlflow_get "registered-models/alias?name=ChurnPredictionModel&alias=production" | grep -q '"version"' \
  || fail "MLflow has no production alias for ChurnPredictionModel (the trainer's mirror)"
api /health | grep -q 'mlflow:models:/ChurnPredictionModel@production' || fail "mlops-api does not serve MLflow's model"
predict "$api_port" | grep -q '"prediction"' || fail "mlops-api does not predict"
update=$(curl -fsS -X POST "http://127.0.0.1:$api_port/crm_segment_update?customer_id=CUST_TEST_007")
decision=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["segment_ai_decision"])' <<<"$update")
curl -fsS "http://127.0.0.1:$crm_port/customer/CUST_TEST_007" | grep -q "\"segment\":\"$decision\"" \
  || fail "the crm service does not hold the segment mlops-api wrote"
targets_up() {
  curl -fsS "http://127.0.0.1:$prometheus_port/api/v1/targets" | /usr/bin/python3 -c '
import json, sys
targets = json.load(sys.stdin)["data"]["activeTargets"]
jobs = {t["labels"]["job"]: t["health"] for t in targets}
sys.exit(0 if jobs == {"mlops-api": "up", "crm": "up", "pushgateway": "up"} else 1)'
}
wait_for 60 "Prometheus: every target up" targets_up
curl -fsS "http://127.0.0.1:$prometheus_port/api/v1/alertmanagers" | grep -q 'alertmanager:9093' \
  || fail "Prometheus does not send to Alertmanager"
curl -fsS "http://127.0.0.1:$alertmanager_port/-/ready" >/dev/null || fail "Alertmanager is not ready"
echo "stack up in ${healthy_seconds}s: trainer registered and mirrored, mlops-api serves MLflow's production" \
     "model, the CRM holds its segment ($decision), Prometheus has every target up and sends to Alertmanager"

# 3b. A rollout started in the trainer's registry, carried out by mlops-api from MLflow's record
say "rollout: version 2 trained and rolled out from the trainer's registry; mlops-api follows MLflow and promotes it"
in_trainer() { docker-compose run --rm -T trainer "$@" 2>>"$work/run.log"; }
in_trainer train --n-samples 1000 --c-param 0.1 --seed 7 --register >/dev/null || fail "train version 2 in the trainer"
in_trainer rollout start ChurnPredictionModel --to 2 --steps 100 --interval 1s --min-requests 100 >/dev/null \
  || fail "rollout start in the trainer"
"$mlops" crm --crm "sqlite:$work/traffic.db" init --customers 400 >/dev/null
"$mlops" crm --crm "sqlite:$work/traffic.db" export "$work/customers.csv" >/dev/null
production_is_2() {
  mlflow_get "registered-models/alias?name=ChurnPredictionModel&alias=production" \
    | /usr/bin/python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)["model_version"]["version"] != "2")'
}
deadline=$(( $(date +%s) + 120 ))
until production_is_2; do
  [ "$(date +%s)" -lt "$deadline" ] || { api /health >&2 || true; fail "mlops-api did not promote version 2 within 120s"; }
  "$mlops" -q gate --url "http://127.0.0.1:$api_port" --data "$work/customers.csv" --requests 150 --concurrency 2 \
    --p95 10s >/dev/null 2>&1 || true
done
serves_2() { api /health | /usr/bin/python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)["registry_version"] != 2)'; }
wait_for 30 "mlops-api serving version 2" serves_2
in_trainer rollout status ChurnPredictionModel --json \
  | /usr/bin/python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)["rollout"]["state"] != "promoted")' \
  || fail "the trainer's registry did not take the promotion from MLflow"
echo "rollout promoted by mlops-api through MLflow's record; the trainer's registry took the decision"

# 4. The Kubernetes Deployment's security context, on the compose network
say "read-only root, no capabilities, no-new-privileges, /data on a tmpfs, the ConfigMap's environment"
envs=()
while IFS= read -r line; do envs+=(-e "$line"); done < <(/usr/bin/python3 -c '
import sys, yaml
for key, value in yaml.safe_load(open("compose/k8s/configmap.yaml"))["data"].items(): print(f"{key}={value}")')
network="${project}_default"  # compose's network for the project
tmpfs="/data:rw,uid=10001,gid=10001"
[ "$engine" = podman ] && tmpfs="/data:rw,U"
k8s_port=$(free_port)
"$engine" run -d --name "$project-k8s" --network "$network" -p "127.0.0.1:$k8s_port:8000" \
  --read-only --cap-drop ALL --security-opt no-new-privileges --tmpfs "$tmpfs" "${envs[@]}" \
  mlops:local serve --host 0.0.0.0 --port 8000 >/dev/null 2>>"$work/run.log"
wait_for 60 "the locked-down serve ready" curl -fsS "http://127.0.0.1:$k8s_port/ready"
predict "$k8s_port" | grep -q '"prediction"' || fail "the locked-down serve does not predict"
in_pod() { "$engine" exec "$project-k8s" mlops "$@"; }
in_pod train --n-samples 300 -o /data/m.json >/dev/null 2>>"$work/run.log" || fail "train in the locked-down container"
for shard in 0 1 2 3; do
  in_pod crm-sync --shard "$shard/4" >/dev/null 2>>"$work/run.log" || fail "crm-sync --shard $shard/4 in the locked-down container"
done
touch_root=$("$engine" exec "$project-k8s" sh -c 'touch /usr/local/bin/x 2>&1 || true')
case "$touch_root" in *"Read-only file system"*) ;; *) fail "the root file system is writable: $touch_root" ;; esac
[ "$("$engine" exec "$project-k8s" sh -c 'grep ^CapEff /proc/self/status' | awk '{print $2}')" = 0000000000000000 ] \
  || fail "the container kept capabilities"
echo "serve, predict, train and crm-sync --shard i/4 work read-only with no capabilities"

cd "$root"
echo "container-test: ok in $(( $(date +%s) - started ))s (build ${build_seconds}s, image $(( size / 1000000 )) MB, stack healthy in ${healthy_seconds}s)"
