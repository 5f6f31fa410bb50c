# syntax=docker/dockerfile:1
# The engine image (manifests/engine.yaml): reconciles job ConfigMaps into configure → algorithm → publish pods.
#
#   docker build -f docker/engine.Dockerfile -t REGISTRY/c2d/engine:0.1.0 .

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
ENV NODE_ENV=production \
    METRICS_PORT=9090
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /src/dist/lib ./dist/lib
COPY --from=build /src/dist/engine ./dist/engine
# The unprivileged `node` user (uid 1000) of the base image; the code is owned by root and read-only to it.
USER 1000:1000
EXPOSE 9090
ENTRYPOINT ["node", "dist/engine/main.js"]
