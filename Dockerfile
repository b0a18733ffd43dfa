# syntax=docker/dockerfile:1
# CPU image of the slimmable inference service. GPU image: Dockerfile.cuda.
#   docker build -t slimmable-serve:0.1.0 .          (the tag the Kubernetes manifests and compose use)
#   docker run -p 8080:8080 slimmable-serve:0.1.0

FROM node:22-bookworm-slim AS build
WORKDIR /app
# onnxruntime-node's install script would download the CUDA provider. npm 11 never runs it
# (package.json's allowScripts denies it), but this image's npm is Node 22's own npm 10, which
# ignores allowScripts: skip the download here. This image runs ONNX Runtime's CPU provider.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY playground ./playground
COPY deploy/docker/prune-native-binaries.sh ./
# Compile, drop dev dependencies, then every native binary but linux/<this CPU>'s (onnxruntime-node
# carries darwin and win32 builds too: production node_modules 335 MB -> 92 MB).
RUN npx tsc -p . && npx tsc -p playground && npm prune --omit=dev && sh prune-native-binaries.sh

FROM node:22-bookworm-slim
WORKDIR /app
# ORT_DISABLE_TELEMETRY: ONNX Runtime 1.30 otherwise writes a telemetry device id and event store
# under ~/.cache/Microsoft/DeveloperTools and a /tmp/mat-debug-<pid>.log; with it the server writes
# nothing to disk (it runs on a read-only root filesystem either way).
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    MODELS_DIR=/app/models \
    EXECUTION_PROVIDERS=cpu \
    ORT_DISABLE_TELEMETRY=1
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
COPY --chown=node:node models ./models
# the playground's page and samples (its scripts are in dist/playground)
COPY --chown=node:node playground/index.html playground/style.css ./playground/
COPY --chown=node:node playground/samples ./playground/samples
# The official image's unprivileged user (uid 1000, what the Kubernetes manifests' runAsUser says).
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and handles SIGTERM itself: stop accepting, answer in-flight requests, exit.
STOPSIGNAL SIGTERM
CMD ["node", "dist/server.js"]
