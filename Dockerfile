# floodgate: multi-stage build, small non-root runtime image.
#   docker build -t floodgate .
#   docker run -e FLOODGATE_AUTH_TOKEN=<token> -e FLOODGATE_ADMIN_TOKEN=<token> \
#     -p 8080:8080 -p 127.0.0.1:9091:9091 floodgate
# (tokens: openssl rand -hex 24). OpenIM's webhook url then ends in /<FLOODGATE_AUTH_TOKEN>;
# the admin port (block lifts, /metrics) is published on loopback only.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Manifests first, so the dependency layer is cached across source changes.
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY lua lua
COPY benches benches
COPY examples examples
RUN cargo build --release --locked --bin floodgate

FROM debian:bookworm-slim
# ca-certificates: rediss:// and an https:// FLOODGATE_UPSTREAM_URL verify the server against
# the system roots.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home floodgate
COPY --from=build /src/target/release/floodgate /usr/local/bin/floodgate
USER 10001
EXPOSE 8080 9091
# The binary checks its own /healthz: no curl in the image.
HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD ["/usr/local/bin/floodgate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/floodgate"]
