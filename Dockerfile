# The demo server (default) or the queue worker, in one image:
#   docker build -t tract-node .
#   docker run -p 3000:3000 tract-node
#   docker run -e REDIS_URL=redis://redis:6379 tract-node node examples/queue-worker.js
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential ca-certificates curl \
 && curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
ENV PATH=/root/.cargo/bin:$PATH
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund && npm run build \
 && npm prune --omit=dev && npm install --no-save --omit=dev express@5 bullmq@6

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production PORT=3000
COPY --from=build /app/package.json /app/index.js /app/index.mjs /app/index.d.ts /app/binding.js /app/queue.js /app/express.js ./
COPY --from=build /app/js ./js
COPY --from=build /app/examples ./examples
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/tract-node.*.node ./
USER node
EXPOSE 3000
CMD ["node", "examples/server.js"]
