# syntax=docker/dockerfile:1.7
# The one image build every service shares: `--build-arg SERVICE=<service>` picks the service, so each
# service still gets its own image. Build from the repository root (skaffold: context ".", this file,
# buildArgs SERVICE):
#   docker build --build-arg SERVICE=message -t message .
# Stages: deps (pnpm fetch from the lockfile only, cached) -> build (install offline, tsc --build of the
# seven services and the workspace libraries, vite build of the web client: the same for every SERVICE,
# so one cached layer serves every image; only the service that serves `/` depends on @parley/web, whose
# package ships only web/dist, so only its image carries the web client) -> deploy (pnpm deploy --prod of
# this service alone, pruned of type declarations, source maps of dependencies, docs and tests) -> rootfs
# (distroless-style: node, the shared libraries it links, tini, users and CA bundle; the same for every
# SERVICE, so one shared base layer) -> runtime (scratch + that root filesystem + the service; uid 1000;
# no shell, no package manager).
# Without Docker or a registry, `./parley images` builds these with podman from a local Debian build
# image: NODE_IMAGE=<Debian trixie minbase + tini + the official Node 20 binary + npm> (docs/operations.md).

# The image the build stages run in and the runtime's node, libraries and tini come from.
ARG NODE_IMAGE=node:24.21.0-trixie-slim
ARG PNPM_VERSION=10.34.9

FROM ${NODE_IMAGE} AS base
ARG PNPM_VERSION
ENV PNPM_HOME=/pnpm \
    PATH=/pnpm:$PATH \
    CI=true
RUN npm install --global --no-fund --no-audit "pnpm@${PNPM_VERSION}"
WORKDIR /repo

# Dependencies: only the lockfile and workspace manifest, so this layer survives source edits.
FROM base AS deps
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN --mount=type=cache,id=parley-pnpm-store,target=/pnpm/store \
    pnpm config set store-dir /pnpm/store && pnpm fetch

FROM deps AS build
COPY . .
RUN --mount=type=cache,id=parley-pnpm-store,target=/pnpm/store \
    pnpm config set store-dir /pnpm/store \
 && pnpm install --offline --frozen-lockfile \
 && pnpm exec tsc --build services/*/ packages/client \
 && pnpm --filter @parley/web run build

FROM build AS deploy
# Which service this image is (a folder of services/); required: there is no default image.
ARG SERVICE
# Pruned from the deployed tree: what never runs (type declarations, TypeScript sources, dependencies'
# source maps, markdown, @types packages) and the test/docs/example folders at a dependency's root. The
# workspace libraries' and the service's own .js.map stay (--enable-source-maps).
RUN --mount=type=cache,id=parley-pnpm-store,target=/pnpm/store \
    test -n "${SERVICE}" -a -f "services/${SERVICE}/package.json" || { echo "--build-arg SERVICE=<a folder of services/> is required" >&2; exit 1; }; \
    pnpm exec tsc --build "services/${SERVICE}" \
 && pnpm --filter "@parley/${SERVICE}-service" --prod --config.inject-workspace-packages=true deploy /out \
 && rm -f /out/pnpm-lock.yaml \
 && find /out \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.d.ts.map' -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' \
      -o -name '*.md' -o -name '*.markdown' -o -name '*.tsbuildinfo' \) -type f -delete \
 && find /out/node_modules/.pnpm -name '*.map' -type f ! -path '*/.pnpm/@parley+*' -delete \
 && find /out/node_modules/.pnpm -regextype posix-extended -type d \
      -regex '.*/\.pnpm/[^/]+/node_modules/(@[^/]+/)?[^/]+/(test|tests|__tests__|docs|doc|example|examples|benchmark|benchmarks|\.github|coverage)' \
      -prune -exec rm -rf {} + \
 && rm -rf /out/node_modules/.pnpm/@types+* \
 && find /out/node_modules -xtype l -delete \
 && test -f /out/dist/main.js

# The runtime root filesystem, file by file: no shell, no coreutils, no package manager.
FROM ${NODE_IMAGE} AS rootfs
RUN set -eu; \
    if ! command -v tini-static >/dev/null; then \
      apt-get update && apt-get install --yes --no-install-recommends tini && rm -rf /var/lib/apt/lists/*; \
    fi; \
    node="$(command -v node)"; r=/rootfs; \
    mkdir -p "$r/usr/local/bin" "$r/usr/bin" "$r/etc/ssl/certs" "$r/tmp" "$r/app" "$r/usr/share/doc/node"; \
    cp "$node" "$r/usr/local/bin/node"; \
    cp "$(command -v tini-static)" "$r/usr/bin/tini"; \
    for lib in $(ldd "$node" | grep -o '/[^ ]*'); do cp --parents -L "$lib" "$r"; done; \
    # glibc's other small runtime libraries: native addons link them (sharp's libvips needs libresolv).
    libdir="$(dirname "$(ldd "$node" | grep -o '/[^ ]*/libc\.so\.6')")"; \
    for l in libresolv.so.2 librt.so.1 libutil.so.1 libanl.so.1; do \
      if [ -e "$libdir/$l" ]; then cp --parents -L "$libdir/$l" "$r"; fi; \
    done; \
    for p in libc6 libstdc++6 libgcc-s1 tini; do \
      if [ -f "/usr/share/doc/$p/copyright" ]; then mkdir -p "$r/usr/share/doc/$p" && cp "/usr/share/doc/$p/copyright" "$r/usr/share/doc/$p/"; fi; \
    done; \
    for f in /usr/local/share/doc/node/LICENSE /usr/local/LICENSE; do if [ -f "$f" ]; then cp "$f" "$r/usr/share/doc/node/LICENSE"; break; fi; done; \
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/"; fi; \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nparley:x:1000:1000:parley:/app:/sbin/nologin\n' >"$r/etc/passwd"; \
    printf 'root:x:0:\nparley:x:1000:\n' >"$r/etc/group"; \
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$r/etc/nsswitch.conf"; \
    chmod 1777 "$r/tmp"; \
    chroot "$r" /usr/local/bin/node -e 'require("node:os").userInfo(); new Intl.DateTimeFormat("de").format(0)'

FROM scratch AS runtime
COPY --from=rootfs /rootfs /
# Two malloc arenas: tens of thousands of sockets fragment glibc's per-thread arenas (docs/operations.md).
ENV PATH=/usr/local/bin:/usr/bin \
    NODE_ENV=production \
    MALLOC_ARENA_MAX=2
WORKDIR /app
# Owned by root and read-only to the service user; the pod also mounts the root filesystem read-only.
COPY --from=deploy /out /app
USER 1000:1000
ARG SERVICE
LABEL org.opencontainers.image.title="parley-${SERVICE}" \
      org.opencontainers.image.source="https://github.com/parley-chat/parley"
# tini reaps children and forwards SIGTERM so the service drains; extra args (migrate, topics) follow main.js.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--enable-source-maps", "dist/main.js"]
CMD []
