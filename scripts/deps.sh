#!/usr/bin/env bash
# Installs everything the project needs on Debian bookworm and resolves the
# Kafka jars. Quick when nothing is missing. Run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian bookworm packages. Versions are bookworm's (pinned by the release):
# librdkafka 2.0.2, Boost 1.74, RapidJSON 1.1.0, hiredis 0.14, MariaDB 10.11,
# Redis 7.0, fmt 9.1, Catch2 2.13, OpenSSL 3.0, libjwt 1.10, Prometheus 2.42,
# Alertmanager 0.25.
PACKAGES=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates clang-format clang-tidy
  librdkafka-dev libboost-dev rapidjson-dev libhiredis-dev
  libmariadb-dev default-libmysqlclient-dev libfmt-dev catch2 libssl-dev uuid-dev libjwt-dev
  mariadb-server mariadb-client redis-server redis-tools kcat
  openjdk-17-jre-headless maven python3 python3-yaml python3-jsonschema python3-venv
  nginx-light wrk prometheus prometheus-alertmanager
  docker.io docker-compose debootstrap
  haproxy openjdk-17-jdk-headless golang-go
)
# Kafka pinned in deploy/kafka/pom.xml.
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' deploy/kafka/pom.xml)
KAFKA_LIB=.deps/kafka/lib

missing=()
for p in "${PACKAGES[@]}"; do
  # openjdk: any Java 17 runtime already on PATH will do.
  if [ "$p" = openjdk-17-jre-headless ] && [[ "$(java -version 2>&1)" == *'version "17'* ]]; then continue; fi
  if [ "$p" = maven ] && command -v mvn >/dev/null; then continue; fi
  # tests/k8s: a JDK and Go (this machine class has them outside Debian's packages).
  if [ "$p" = openjdk-17-jdk-headless ] && command -v javac >/dev/null; then continue; fi
  if [ "$p" = golang-go ] && { command -v go >/dev/null || [ -x /usr/local/go/bin/go ]; }; then continue; fi
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == *'install ok installed'* ]] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${missing[*]}"
  SUDO=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  # The packaged services must not start system-wide instances: the project
  # runs its own in a private data folder.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "deps: Debian packages installed"
else
  echo "deps: Debian packages present"
fi

stamp="$KAFKA_LIB/.resolved-$(sha256sum deploy/kafka/pom.xml | cut -c1-16)"
if [ -f "$stamp" ] && [ -f "$KAFKA_LIB/kafka_2.13-$KAFKA_VERSION.jar" ]; then
  echo "deps: Kafka $KAFKA_VERSION jars present"
else
  echo "deps: resolving Apache Kafka $KAFKA_VERSION jars with Maven"
  rm -rf "$KAFKA_LIB"
  mkdir -p "$KAFKA_LIB"
  mvn -q -B -Dstyle.color=never -f deploy/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory="$PWD/$KAFKA_LIB"
  touch "$stamp"
  echo "deps: $(ls "$KAFKA_LIB"/*.jar | wc -l) jars in $KAFKA_LIB"
fi

# schemathesis, the API fuzzer of ctest security.fuzz, pinned, in a project venv
# on Debian's python3 (python3-venv); pip fetches it and its dependencies.
SCHEMATHESIS_VERSION=4.32.5
FUZZ_VENV=.deps/venv-fuzz
installed=$("$FUZZ_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)
if [ "$installed" = "$SCHEMATHESIS_VERSION" ]; then
  echo "deps: schemathesis $SCHEMATHESIS_VERSION present"
else
  echo "deps: installing schemathesis $SCHEMATHESIS_VERSION into $FUZZ_VENV"
  rm -rf "$FUZZ_VENV"
  /usr/bin/python3 -m venv "$FUZZ_VENV"
  "$FUZZ_VENV/bin/python" -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  echo "deps: schemathesis $SCHEMATHESIS_VERSION installed"
fi
