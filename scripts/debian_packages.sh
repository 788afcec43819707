#!/usr/bin/env bash
# Installs Debian packages the tests and the benchmark run for real (as root: scripts/test.sh and
# scripts/bench.sh call it), without starting a machine-wide service: Debian would otherwise start nginx
# on :80 and create and start a "main" PostgreSQL cluster on 5432. RoomBot's tests and benchmark run
# their own throwaway cluster and nginx on loopback (scripts/cluster.py). Services already on the
# machine are left as they are.   Usage: scripts/debian_packages.sh chromium postgresql nginx
#        scripts/debian_packages.sh --missing "the tests" chromium postgresql nginx
#          installs only those not on the machine; not root (or no apt-get), says how to install them.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if [ "${1:-}" = "--missing" ]; then
  for_what=$2
  shift 2
  missing=()
  for name in "$@"; do
    case "$name" in
      chromium) [ -x /usr/bin/chromium ] || missing+=(chromium) ;;
      postgresql) compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql) ;;
      nginx) [ -x /usr/sbin/nginx ] || missing+=(nginx) ;;
      *) dpkg -s "$name" >/dev/null 2>&1 || missing+=("$name") ;;
    esac
  done
  [ "${#missing[@]}" -gt 0 ] || exit 0
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
    echo "Debian's ${missing[*]} are needed for $for_what: run as root, or" \
         "'sudo apt-get install ${missing[*]/#postgresql/postgresql-15}'." >&2
    exit 0
  fi
  echo "Installing Debian's ${missing[*]} for $for_what..."
  set -- "${missing[@]}"
fi

policy="${POLICY_RC_D:-/usr/sbin/policy-rc.d}"  # (tests point these two elsewhere)
createcluster="${CREATECLUSTER_CONF:-/etc/postgresql-common/createcluster.conf}"
own_policy=0
saved_createcluster=""
put_back() {
  if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
  if [ -n "$saved_createcluster" ]; then cp -p "$saved_createcluster" "$createcluster"; rm -f "$saved_createcluster"; fi
}
trap put_back EXIT
if ! [ -e "$policy" ]; then  # invoke-rc.d asks it before starting a service; 101: not now
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  own_policy=1
fi

apt-get update -qq
packages=()
new_nginx=0
for name in "$@"; do
  case "$name" in
    postgresql)
      # 15, the version RoomBot is tested on, when this Debian release has it
      if apt-cache show postgresql-15 >/dev/null 2>&1; then name=postgresql-15; fi
      dpkg -s postgresql-common >/dev/null 2>&1 ||
        apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null
      # no "main" cluster (its own postinst would make one); the file is put back afterwards
      saved_createcluster=$(mktemp)
      cp -p "$createcluster" "$saved_createcluster"
      sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' "$createcluster"
      ;;
    nginx)
      dpkg -s nginx >/dev/null 2>&1 || new_nginx=1
      ;;
  esac
  packages+=("$name")
done
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

if [ "$new_nginx" = 1 ]; then  # nor at the next boot: the tests start their own
  deb-systemd-helper disable nginx.service >/dev/null 2>&1 || true
  update-rc.d nginx disable >/dev/null 2>&1 || true
fi
