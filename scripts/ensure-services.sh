#!/usr/bin/env bash
# Installs the real services the tests run against (InfluxDB, Mosquitto, Chromium, Redis) when missing.
# Tests start their own instances on free loopback ports; nothing is mocked and nothing is skipped.
set -euo pipefail
declare -A need=([/usr/bin/influxd]=influxdb [/usr/sbin/mosquitto]=mosquitto [/usr/bin/chromium]=chromium [/usr/bin/redis-server]=redis-server)
missing=()
for bin in "${!need[@]}"; do [ -x "$bin" ] || missing+=("${need[$bin]}"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "E! missing ${missing[*]}: run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "I! installing ${missing[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
