# One image per function: docker build --build-arg FUNCTION=ingest -t ingest .
# The runtime image holds only the esbuild bundle (dist/<function>), the same artefact
# test/build.test.ts starts from a directory without node_modules.

# ---- build: install with the lock file, bundle the one function -------------------------
FROM node:24-slim AS build
ARG FUNCTION
RUN test -n "$FUNCTION" || (echo "build with --build-arg FUNCTION=<bridge|ingest|registry|deadletter|readings>" >&2; exit 1)
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build -- "$FUNCTION" && mkdir -p "dist/$FUNCTION/.compile-cache"

# ---- runtime: distroless Node 24, non-root, no shell, no npm -----------------------------
FROM gcr.io/distroless/nodejs24-debian12:nonroot
ARG FUNCTION
# Copied with its directories owned by nonroot, so that the compile cache can be written.
COPY --from=build --chown=nonroot:nonroot /src/dist/${FUNCTION}/ /app/
WORKDIR /app
USER nonroot
# Warm V8's compile cache with this image's own Node: start the function once (it only
# listens; clients are created on first request) and keep the cache in the image. Cold
# starts then skip parsing and compiling the bundle (bench/cold-start.ts measures both).
# Exec form: distroless has no shell. A bundle refuses to start without its stores configured;
# these placeholder settings only let it start: nothing connects before the first request.
ENV NODE_COMPILE_CACHE=/app/.compile-cache
RUN ["/nodejs/bin/node", "--input-type=module", "--eval", "Object.assign(process.env, { PORT: '0', DATABASE_URL: 'postgres://warm-up.invalid/none', GOOGLE_CLOUD_PROJECT: 'warm-up', BIGQUERY_DATASET: 'warm-up' }); await import('/app/index.mjs'); (await import('node:module')).flushCompileCache(); process.exit(0);"]
ENV NODE_ENV=production PORT=8080
EXPOSE 8080
# The image's entrypoint is node itself.
CMD ["index.mjs"]
