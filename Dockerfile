# The action's image: one static binary and the CA bundle on an empty base, nothing else.
#
# Both ways of filling it lay the files out with scripts/stage-action-files, and both final
# stages are the `action` stage plus one COPY of that layout, so they cannot drift apart:
#   release, the default target (the release workflow builds it with buildx, amd64 and arm64):
#       docker buildx build --platform linux/amd64,linux/arm64 .
#   dev, from a local static build, pulling no image (the legacy builder is enough):
#       scripts/action-image        # builds, then: docker build --target dev -t ship-to-ecr:dev .
# A builder without BuildKit builds every stage before its target, so building the release
# target that way also needs target/action-image/ (run scripts/action-image first).

# The shared final stage: how the runner starts the action.
FROM scratch AS action
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/ship-to-ecr"]

FROM action AS dev
COPY target/action-image/ /

# Alpine's Rust targets musl and links statically.
FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev build-base cmake perl ca-certificates
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ship-to-ecr \
 && sh scripts/stage-action-files target/release/ship-to-ecr /etc/ssl/certs/ca-certificates.crt /out

FROM action AS release
COPY --from=build /out/ /
