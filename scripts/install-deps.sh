#!/usr/bin/env bash
# Installs every Debian package that building, running and testing carepost needs.
# Idempotent: safe to run again; it refreshes the package lists itself.
set -euo pipefail

packages=(
    # toolchain
    build-essential cmake ninja-build pkg-config git
    # libraries: one well-kept library per need
    libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
    libssl-dev libsodium-dev libgmime-3.0-dev libkainjow-mustache-dev
    libsqlite3-dev libpq-dev libunbound-dev libevent-dev libidn2-dev
    libcurl4-openssl-dev libgumbo-dev
    libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    # real peers and oracles used by the tests and the main job
    postfix swaks python3 python3-dkim opendkim opendkim-tools openssl
    sqlite3 curl idn2 ca-certificates procps iproute2
)

export DEBIAN_FRONTEND=noninteractive
# Postfix asks questions on install; answer them up front.
echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
echo "postfix postfix/mailname string carepost.test" | debconf-set-selections

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (or through sudo)" >&2
    exit 1
fi
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"
