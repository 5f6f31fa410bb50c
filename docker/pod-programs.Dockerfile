# syntax=docker/dockerfile:1
# The pod-programs image: the programs the engine runs in a job's first and last pod, and the algorithm pod's init
# container. The engine starts them by name (engine/pod-specs.ts: command ["configure"], ["publish"],
# ["await-isolation"]), so each is an executable on PATH.
#
#   docker build -f docker/pod-programs.Dockerfile -t REGISTRY/c2d/pod-programs:0.1.0 .
# and point the engine at it (POD_PROGRAMS_IMAGE in manifests/engine.yaml).

# The Node the code is tested with (package.json's "node", which npm scripts and the local node run), on Debian bookworm.
# Pinned by version tag only: no registry was reachable to read its manifest list's digest; add @sha256:… when building.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# Build: TypeScript to JavaScript (tsconfig.build.json rewrites the .ts import specifiers to .js).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY lib lib
COPY engine engine
COPY functions functions
RUN npx tsc -p tsconfig.build.json

# Production dependencies only, installed from the lock file without running any package's install scripts.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /src/dist/lib ./dist/lib
COPY --from=build /src/dist/engine ./dist/engine
RUN for program in configure publish await-isolation; do \
      printf '#!/bin/sh\nexec node /app/dist/engine/pods/%s.js "$@"\n' "$program" > "/usr/local/bin/$program" && \
      chmod 0755 "/usr/local/bin/$program"; \
    done
# Job pods run as uid/gid 1000 (the engine's JOB_UID/JOB_GID, PodSecurity restricted); so does the image by default.
USER 1000:1000
