# The rollback worker (and the CLI, chatops, serve and codec-server: the same image, another command).
# Multi-stage: the build stage compiles TypeScript with the dev dependencies; the image keeps only
# the production dependencies, the compiled dist/ and bin/, and runs as a user without privileges.
# Base images are pinned by tag; where no registry can be reached, build NODE_IMAGE locally
# (Debian bookworm with Node 20) and pass --build-arg NODE_IMAGE=that-tag.
ARG NODE_IMAGE=node:20.19-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm install, not npm ci: it honours the lock's pinned versions, and takes a lock made where the
# registry mirror had no macOS builds of @swc/core, which npm ci refuses (see scripts/setup.sh).
RUN npm install --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle-workflows.ts ./scripts/
# tsc, then the workflows bundled once into dist/workflow-bundle.js: the worker starts without webpack.
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM ${NODE_IMAGE}
# git for git targets' steps; ca-certificates for HTTPS checks and AWS; tini reaps the children
# that steps start (npm ci, service managers) and passes SIGTERM on for a graceful shutdown.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates openssh-client tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/rollback rollback
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
USER rollback
ENV NODE_ENV=production \
    ROLLBACK_STATE_DIR=/home/rollback/.rollback
EXPOSE 8080 9464
# V8's young generation capped at 2 MB a semi-space: the worker under 50 concurrent rollbacks
# peaked at ~250 MB instead of ~300 MB, at the same speed (README, bench/group.ts).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=2", "/app/bin/rollback.js"]
CMD ["worker", "--health", "0.0.0.0:8080", "--metrics", "0.0.0.0:9464", "--log-format", "json"]
