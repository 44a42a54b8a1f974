# browserfleet's own processes: `node dist/main.js <operator|gateway|sidecar>` (the argument picks the process;
# the chart passes it as the container's args). Build with `make images`.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# `npm install`, not `npm ci`: npm leaves other platforms' optional packages (Biome's) out of this lock file and
# `npm ci` then refuses it (see the Makefile). With the lock file present, install still takes its pinned versions.
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The `node` user of the base image (uid/gid 1000): browser pods run their sidecar as 1000, and the chart runs
# the operator and gateway as non-root with a read-only root filesystem.
USER 1000:1000
ENTRYPOINT ["node", "dist/main.js"]
