# The action's image. Issue 5 replaces this with a minimal static image published to a
# registry (so users do not wait for a Rust build on each run) and tests it as the runner
# starts it; until then the runner builds this file.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin ship-to-ecr

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/ship-to-ecr /usr/local/bin/ship-to-ecr
ENTRYPOINT ["/usr/local/bin/ship-to-ecr"]
