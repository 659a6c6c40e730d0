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

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
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

echo "compose smoke: building and starting the stack (project $project)"
if ! "${compose[@]}" up -d --build >"$work/up.log" 2>&1; then
  tail -50 "$work/up.log"
  echo "compose smoke: 'up' failed"
  exit 1
fi

# The seed pushes the sample once the registry answers; the proxy answers once connected.
ok=""
for _ in $(seq 60); do
  if "$bin" pull --mqtt-address "tcp://127.0.0.1:$PP_BROKER_PORT" --channel demo hello:v1 \
    --out "$work/hello.wasm" --timeout 5 >"$work/pull.log" 2>&1; then
    ok=1
    break
  fi
  sleep 2
done
if [[ -z "$ok" ]]; then
  cat "$work/pull.log"
  podman logs "${project}_proxy_1" 2>&1 | tail -20 || true
  podman logs "${project}_seed_1" 2>&1 | tail -20 || true
  echo "compose smoke: the sample module never arrived"
  exit 1
fi
cat "$work/pull.log"
cmp "$work/hello.wasm" "$root/compose/sample/hello.wasm"
curl -fsS "http://127.0.0.1:$PP_HTTP_PORT/health" | grep -q '"status":"ok"'

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
