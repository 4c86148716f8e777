# syntax=docker/dockerfile:1
#
# Palisade's container image: `docker build -t palisade:0.1.0 .`
#
# The base is pinned by tag. For reproducible production builds pin the digest as well, e.g.
#   docker buildx imagetools inspect node:20.20.2-bookworm-slim   # prints the index digest
#   docker build --build-arg NODE_IMAGE=node:20.20.2-bookworm-slim@sha256:<digest> .
# Both stages use the same image, so the Node that compiled is the Node that runs.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- build: full dependency tree, TypeScript → dist/ ----------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: nothing Palisade builds needs an install script, and skipping them keeps
# third-party code from running during the build.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only --------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Everything is owned by root and only readable by the service user: the process cannot change
# its own code, and nothing needs to be written, so the root filesystem can be read-only.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# dist/ is ESM and needs package.json ("type": "module"); proto/ is found by walking up from the
# module, and examples/ beside it holds what the commands use when nothing else is set:
# examples/policy.yaml and examples/ratelimit.yaml for `serve` (PALISADE_POLICY,
# PALISADE_RATELIMIT_CONFIG), examples/lab/ for `simulate` and `replay`, and the generic-site
# policy with its lists (--policy /app/examples/policies/generic-site.yaml).
# test/deploy/image-layout.test.ts lays out these COPY lines and runs the CLI from them.
COPY package.json ./
COPY proto ./proto
# The hosting ASN list the GeoIP classification uses unless PALISADE_HOSTING_ASNS_FILE names another.
COPY data ./data
# console/ holds the analyst console's page, script and styles, found like proto/ by walking up.
COPY console ./console
COPY examples/policy.yaml examples/ratelimit.yaml ./examples/
COPY examples/lab ./examples/lab
COPY examples/policies ./examples/policies
COPY --chmod=0555 docker/node-heap-cap.sh ./docker/node-heap-cap.sh
# The `node` user of the official image, by number so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
EXPOSE 9001 9090
# Exec form, and node itself as PID 1: the entrypoint script only derives the V8 heap cap from
# the container's memory limit (half of it; PALISADE_HEAP_PERCENT) and then execs node, so
# SIGTERM reaches Palisade directly (no shell, no npm in between), and Palisade handles
# SIGTERM/SIGINT (drain within PALISADE_SHUTDOWN_GRACE, exit 0) and SIGHUP (reload policy) itself. PID 1 gets no default signal actions from the kernel, which
# is why those handlers matter. An init such as tini (`docker run --init`) would add zombie
# reaping, but Palisade starts no child processes, so there is nothing to reap; we leave it out
# rather than add a second process that must forward signals correctly.
ENTRYPOINT ["/app/docker/node-heap-cap.sh", "dist/src/cli/index.js"]
CMD ["serve"]
