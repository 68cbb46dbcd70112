# shellcheck shell=bash
# Shared by the script tests in tests/deploy (sourced).

# A loopback port nothing listens on (connecting fails), below Linux's ephemeral range
# (32768-60999), where outgoing connections could take it before a server binds it.
free_port() {
  while true; do
    local port; port=$(shuf -i 20000-32000 -n 1)
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# start_mlflow_double BUILD_DIR DIR: starts the MLflow test double in the background and
# sets $mlflow (its URL) and $double_pid. The caller stops it.
start_mlflow_double() {
  "$1/tests/mlflow-double" > "$2/double.out" &
  # shellcheck disable=SC2034  # read by the caller
  double_pid=$!
  for _ in $(seq 1 100); do grep -q listening "$2/double.out" 2>/dev/null && break; sleep 0.05; done
  mlflow=$(grep -o 'http://[0-9.:]*' "$2/double.out")
  [ -n "$mlflow" ] || { echo "the MLflow double did not start" >&2; return 1; }
}
