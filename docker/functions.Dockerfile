# syntax=docker/dockerfile:1
# The function image: every function bundled (scripts/bundle-functions.ts) under the functions framework. One image
# serves all of them; each Knative Service picks its function with FUNCTION_TARGET and FUNCTION_SOURCE
# (knative/<name>.yaml). Bundled rather than compiled file by file: a function then starts in a fraction of the time
# and memory (the README's benchmark figures).
#
#   docker build -f docker/functions.Dockerfile -t REGISTRY/c2d/functions:0.1.0 .
#   docker run -e FUNCTION_TARGET=info -e FUNCTION_SOURCE=dist/functions/info/index.js -e CHAIN_ID=8996 \
#     -e PROVIDER_ADDRESS=0x... -p 8080:8080 REGISTRY/c2d/functions:0.1.0

# The Node the code is tested with (package.json's "node", which npm scripts and the local node run), on Debian bookworm.
# Pinned by version tag only: no registry was reachable to read its manifest list's digest; add @sha256:… when building.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# Build: type-check, then one ESM bundle per function with shared chunks (functions-framework stays a package).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY lib lib
COPY engine engine
COPY functions functions
COPY scripts/bundle-functions.ts scripts/bundle-functions.ts
RUN npx tsc -p tsconfig.build.json --noEmit && npx tsx scripts/bundle-functions.ts dist/bundle/functions

# Production dependencies only, installed from the lock file without running any package's install scripts.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORT=8080 \
    FUNCTION_SIGNATURE_TYPE=http
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /src/dist/bundle/functions ./dist/functions
# Functions run as the image's unprivileged `node` user (uid 1000); the code is owned by root and read-only to it.
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["node", "node_modules/@google-cloud/functions-framework/build/src/main.js"]
