#!/usr/bin/env bash
# Compose smoke test (CTest label "compose"): builds and starts compose/compose.yaml on free host
# ports, waits for the seed service's sample module, fetches it through MQTT with
# `propeller-proxy pull` from the host, checks its bytes and the proxy's /health, checks the
# image's own layers stay small, and tears the stack down. Skipped (exit 77) without podman.
# Usage: smoke.sh <propeller-proxy binary> <source root>
set -euo pipefail
bin=$1
root=$2
if ! command -v podman >/dev/null || ! command -v podman-compose >/dev/null; then
  echo "compose smoke test skipped: podman and podman-compose are not installed"
  echo "(Debian: apt-get install podman podman-compose; in this workplace ../shared/tools/podman-setup)"
  exit 77
fi

# Host ports come from below the kernel's ephemeral range (32768+), where the integration tests
# running beside this one get their listeners and client sockets: a port picked there could be
# taken between this check and podman binding it.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
export PP_BROKER_PORT PP_REGISTRY_PORT PP_HTTP_PORT
PP_BROKER_PORT=$(free_port)
PP_REGISTRY_PORT=$(free_port)
PP_HTTP_PORT=$(free_port)
project="ppsmoke$$"
work=$(mktemp -d)
compose=(podman-compose -p "$project" -f "$root/compose/compose.yaml")
cleanup() {
  "${compose[@]}" down -v >"$work/down.log" 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Everything needed to tell why the stack did not work, in the test's own output.
explain_failure() {
  echo "--- podman-compose up (last 30 lines)"
  tail -30 "$work/up.log" || true
  echo "--- containers"
  podman ps -a --filter "label=io.podman.compose.project=$project" \
    --format '{{.Names}} {{.Status}} {{.Ports}}' 2>&1 || true
  for service in broker registry proxy seed; do
    echo "--- $service: state and last 20 log lines"
    podman inspect --format '{{.State.Status}} exit={{.State.ExitCode}} error={{.State.Error}}' \
      "${project}_${service}_1" 2>&1 || true
    podman logs "${project}_${service}_1" 2>&1 | tail -20 || true
  done
}

echo "compose smoke: building and starting the stack (project $project)"
if ! "${compose[@]}" up -d --build >"$work/up.log" 2>&1; then
  explain_failure
  echo "compose smoke: 'up' failed"
  exit 1
fi

# podman-compose reports success even when a container did not start, so wait for the proxy's own
# word: /ready answers 200 once it is connected to the broker and subscribed.
deadline=$((SECONDS + 120))
until curl -fsS "http://127.0.0.1:$PP_HTTP_PORT/ready" >/dev/null 2>&1; do
  if ((SECONDS > deadline)); then
    explain_failure
    echo "compose smoke: the proxy was not ready within 120 s"
    exit 1
  fi
  sleep 1
done

# The seed pushes the sample once the registry answers; until then the proxy answers not_found.
ok=""
while ((SECONDS <= deadline + 60)); do
  if "$bin" pull --mqtt-address "tcp://127.0.0.1:$PP_BROKER_PORT" --channel demo hello:v1 \
    --out "$work/hello.wasm" --timeout 10 >"$work/pull.log" 2>&1; then
    ok=1
    break
  fi
  sleep 1
done
if [[ -z "$ok" ]]; then
  cat "$work/pull.log"
  explain_failure
  echo "compose smoke: the sample module never arrived"
  exit 1
fi
cat "$work/pull.log"
cmp "$work/hello.wasm" "$root/compose/sample/hello.wasm"
curl -fsS "http://127.0.0.1:$PP_HTTP_PORT/health" | grep -q '"status":"ok"'

# Asked again, the module comes from the cache volume (written by the image's non-root user).
"$bin" pull --mqtt-address "tcp://127.0.0.1:$PP_BROKER_PORT" --channel demo hello:v1 \
  --out "$work/again.wasm" --timeout 10 >"$work/again.log" 2>&1 || {
  cat "$work/again.log"
  explain_failure
  echo "compose smoke: the second pull failed"
  exit 1
}
cmp "$work/again.wasm" "$root/compose/sample/hello.wasm"
if ! curl -fsS "http://127.0.0.1:$PP_HTTP_PORT/metrics" |
  grep -Eq '^propeller_proxy_cache_hits_total [1-9]'; then
  curl -fsS "http://127.0.0.1:$PP_HTTP_PORT/metrics" | grep cache || true
  explain_failure
  echo "compose smoke: the second pull did not come from the cache"
  exit 1
fi

# The image is the Debian base plus our layers; bookworm-slim itself is ~75 MB, so keeping our
# layers under 75 MB keeps the image under 150 MB (this machine's stand-in base is larger).
image=$(podman image inspect --format '{{.Size}}' localhost/propeller-proxy:latest)
base=$(podman image inspect --format '{{.Size}}' docker.io/library/debian:bookworm-slim)
added=$(((image - base) / 1000000))
echo "compose smoke: image layers above debian:bookworm-slim: ${added} MB"
if ((added >= 75)); then
  echo "compose smoke: the image adds ${added} MB to its base (limit 75 MB)"
  exit 1
fi
echo "compose smoke: ok"
