#!/usr/bin/env bash
# Installs what cnm-emulator needs on Debian 12: system packages and .venv/.
# Idempotent: a second run only checks. Must run as root (labs need it anyway).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(mininet iproute2 nftables iptables iputils-ping iputils-arping iperf3 dnsmasq-base
          tcpdump bridge-utils net-tools procps psmisc python3 python3-venv python3-pip python3-nftables
          util-linux conntrack udhcpc tshark)

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (emulated labs create network namespaces)" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The docker CLI drives the emulated hosts' Engine API. Where it is missing, take the
# client from Debian's docker.io and never let its daemon start: a real dockerd would
# make docker0 and iptables rules in the machine's own namespace.
if ! command -v docker >/dev/null; then
  echo "==> installing the docker CLI (Debian's docker.io, daemon kept stopped)"
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  [ $had_policy -eq 1 ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; }
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io
  [ $had_policy -eq 1 ] || rm -f "$policy"
  systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
fi

# Debian's python3 is the one that sees Debian's Mininet (with mnexec).
PY=/usr/bin/python3
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import mininet.net' 2>/dev/null; then
  echo "==> creating .venv from $PY (with system site packages, for Mininet)"
  rm -rf .venv
  "$PY" -m venv --system-site-packages .venv
fi

stamp=.venv/.cnm-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi
.venv/bin/python -c 'import emulator, mininet.net, scapy, pandas, matplotlib' >/dev/null
echo "==> ready: .venv/bin/cnm"
