# testum in a container: built on the Rust image, run on slim Debian as a non-root user.
#
#   docker build -t testum .
#   docker run -d -p 8080:8080 -v testum-data:/data testum
#
# The image runs `testum serve` (HTTP on 0.0.0.0:8080, SQLite and task logs in the /data volume);
# `docker run --no-healthcheck ... testum worker` runs a worker (that needs
# TESTUM_DATABASE_URL=postgres://...; it serves no HTTP, so the health check does not apply).
# Every setting is a TESTUM_* variable (`docker run --rm testum serve --help`); compose.yaml runs
# it with PostgreSQL and MinIO. The service speaks SSH itself (russh): no openssh-client needed.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
COPY benches benches
RUN cargo build --release --locked --bin testum

FROM debian:bookworm-slim
# ca-certificates: TLS to S3 and PostgreSQL; curl: the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin testum \
 && install -d -o testum -g testum -m 0700 /data
COPY --from=build /src/target/release/testum /usr/local/bin/testum
USER testum
ENV TESTUM_DATA_DIR=/data \
    TESTUM_BIND=0.0.0.0:8080 \
    TESTUM_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
# /readyz answers 200 once the database answers (HTTP only: with TESTUM_TLS_CERT set, use
# `curl -fsSk https://...` in an override).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/testum"]
CMD ["serve"]
