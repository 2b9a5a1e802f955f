# Builds the five service binaries plus the tools once (Release, no tests); the
# runtime images copy from it. Context: the repository root (.dockerignore).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config librdkafka-dev libboost-dev rapidjson-dev \
      libhiredis-dev libmariadb-dev libfmt-dev catch2 libssl-dev uuid-dev libjwt-dev binutils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY proto-schemas proto-schemas
COPY libs libs
COPY tools tools
COPY services services
ARG JOBS=2
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
      "-DTICKETING_COMPONENTS=common;auth;db;redis;http;events;outbox;service;tools;services" \
 && cmake --build /build -j "${JOBS}" --target reservation-api payment-api seat-expiry-scheduler \
      dataplatform-relay notification-worker ticketing-admin fake-peer dev-idp
# /out/bin/<name>: stripped binary; /out/packages/<name>: the Debian packages
# holding the shared libraries it loads (what its runtime image installs).
RUN mkdir -p /out/bin /out/packages \
 && for f in /build/services/*/*-api /build/services/*/*-scheduler /build/services/*/*-relay \
             /build/services/*/*-worker /build/tools/admin/ticketing-admin /build/tools/fake-peer/fake-peer \
             /build/tools/dev-idp/dev-idp; do \
      n=$(basename "$f"); strip -o "/out/bin/$n" "$f"; \
      ldd "$f" | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | while read -r lib; do \
        dpkg -S "*/$(basename "$lib")" 2>/dev/null | head -1 | cut -d: -f1; \
      done | sort -u >"/out/packages/$n"; \
    done \
 && head -n 100 /out/packages/*
