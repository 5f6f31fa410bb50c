# syntax=docker/dockerfile:1
# The engine image (manifests/engine.yaml): reconciles job ConfigMaps into configure → algorithm → publish pods.
#
#   docker build -f docker/engine.Dockerfile -t REGISTRY/c2d/engine:0.1.0 .

# Build: TypeScript to JavaScript (tsconfig.build.json rewrites the .ts import specifiers to .js).
FROM node:20.19-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY lib lib
COPY engine engine
COPY functions functions
RUN npx tsc -p tsconfig.build.json

# Production dependencies only, installed from the lock file without running any package's install scripts.
FROM node:20.19-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:20.19-bookworm-slim
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
