# strata's container image: Debian 12, built with the same dependency script as CI
# (scripts/deps.sh --build-only) and the build type CI tests (RelWithDebInfo, stripped), shipped
# with the runtime libraries only, run as a non-root user.
#
#   docker build -t strata:0.1.0 .
#   docker run --rm strata:0.1.0 plan --bucket=/data ...
#
# The CronJob in cron/base runs it with a read-only root filesystem: everything strata writes
# goes to --data-dir (an emptyDir) and /tmp.

FROM debian:12-slim AS build
WORKDIR /src
COPY scripts/deps.sh scripts/deps.sh
RUN bash scripts/deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build \
    && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSTRATA_TESTS=OFF \
    && cmake --build build -j"$(nproc)" \
    && install -m 0755 -s build/strata /usr/local/bin/strata

FROM debian:12-slim
# Runtime libraries of the strata binary (readelf -d: NEEDED), and CA certificates for HTTPS.
# tests/scripts/test_cron_manifests.sh checks this list against the binary it builds.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libcurl4 libssl3 libjansson4 \
       libyaml-0-2 libexpat1 libxxhash0 libzstd1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 strata \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin strata
COPY --from=build /usr/local/bin/strata /usr/local/bin/strata
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/strata"]
CMD ["--help"]
