#!/usr/bin/env bash
# Installs every build and test dependency of strata from Debian's packages.
# Idempotent: packages already present are skipped. Uses apt-get as root, sudo otherwise.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libzstd-dev libcurl4-openssl-dev libssl-dev
    libxxhash-dev libcmocka-dev libjansson-dev libyaml-dev libexpat1-dev)
test_pkgs=(prometheus clang libclang-rt-14-dev python3 curl xxd python3-swift time
    prometheus-pushgateway python3-yaml zstd)

# --build-only: what building needs; --demo: that and promtool (scripts/demo.sh); else all
want=("${build_pkgs[@]}")
case "${1:-}" in
--build-only) ;;
--demo) want+=(prometheus python3) ;;
*) want+=("${test_pkgs[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#want[@]} packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
