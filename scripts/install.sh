#!/usr/bin/env bash
# Installs what cnm-emulator needs on Debian 12: system packages and .venv/.
# Idempotent: a second run only checks. Must run as root (labs need it anyway).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(mininet iproute2 nftables iptables iputils-ping iputils-arping iperf3 dnsmasq-base
          tcpdump bridge-utils net-tools procps psmisc python3 python3-venv python3-pip python3-nftables
          util-linux conntrack udhcpc tshark curl)

# `install.sh --test` (make test) adds what only the test suite needs: Chromium, to
# open the HTML report headless as a person would. `make run` stays lean.
if [ "${1:-}" = "--test" ]; then
  PACKAGES+=(chromium)
fi

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

# A real Docker Engine for `engine: docker` hosts: Debian's docker.io (dockerd 20.10,
# containerd, runc) and busybox-static for its images. Their services must never start
# or be enabled: a dockerd in the machine's own namespace would make docker0 and
# iptables rules there. Labs start dockerd themselves, inside a lab host's namespace.
# The docker CLI already on PATH (/usr/local/bin, newer) stays first; docker.io's
# client goes to /usr/bin.
real_docker=()
for pkg in docker.io busybox-static; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || real_docker+=("$pkg")
done
if [ ${#real_docker[@]} -gt 0 ]; then
  echo "==> installing ${real_docker[*]} (services kept stopped and disabled)"
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  [ $had_policy -eq 1 ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; }
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${real_docker[@]}"
  [ $had_policy -eq 1 ] || rm -f "$policy"
fi
for unit in docker.service docker.socket containerd.service; do
  systemctl disable "$unit" >/dev/null 2>&1 || true
  rm -f "/etc/systemd/system/multi-user.target.wants/$unit" "/etc/systemd/system/sockets.target.wants/$unit"
done
if pgrep -x dockerd >/dev/null && ! grep -qs CNM_LAB= "/proc/$(pgrep -x dockerd | head -1)/environ"; then
  echo "install.sh: a dockerd that is not a lab's runs on this machine; labs' real hosts still work, but check it" >&2
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
