# The operator's image: a release build, then only the binary on a distroless, non-root base.
#   docker build -t registry.frama.space/framaspace-operator:0.1.0 .
# The Helm chart runs it as UID 65532 with a read-only root file system; it writes nothing to disk.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY src ./src
COPY tests ./tests
RUN cargo build --release --locked \
 && install -m 0755 target/release/framaspace-operator /framaspace-operator

# glibc and CA certificates, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /framaspace-operator /usr/local/bin/framaspace-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/framaspace-operator"]
CMD ["run"]
