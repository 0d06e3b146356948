# loganomaly container image: the release binary (the default model is compiled into it)
# on distroless, as a non-root user. Build from the repository root:
#   docker build -t REGISTRY/loganomaly:0.1.0 .
# The build is `cargo build --release --locked`, as in CI.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# every workspace member: the model crate is a path dependency of the service
COPY crates crates
COPY src src
COPY benches benches
COPY models models
COPY examples examples
# the incident database's schema migrations, compiled in
COPY migrations migrations
# stripped: 57 MB with the release profile's line tables, 11 MB without
RUN cargo build --release --locked --bin loganomaly \
 && strip -o /loganomaly target/release/loganomaly

# glibc, libgcc and CA certificates (for https to Loki and Slack), all the binary links to.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /loganomaly /usr/local/bin/loganomaly
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/loganomaly"]
CMD ["serve", "--config", "/etc/loganomaly/loganomaly.toml"]
