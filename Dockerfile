# syntax=docker/dockerfile:1
# CPU image of the slimmable inference service. GPU image: Dockerfile.cuda.
#   docker build -t slimmable-serve .
#   docker run -p 8080:8080 slimmable-serve

FROM node:20-bookworm-slim AS build
WORKDIR /app
# The CUDA provider download is skipped: this image runs ONNX Runtime's CPU provider.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p . && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    MODELS_DIR=/app/models \
    EXECUTION_PROVIDERS=cpu
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
COPY --chown=node:node models ./models
# The official image's unprivileged user.
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and handles SIGTERM itself: stop accepting, answer in-flight requests, exit.
STOPSIGNAL SIGTERM
CMD ["node", "dist/server.js"]
