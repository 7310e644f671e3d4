# The official Telegraf image plus Node 20 for meterproof's processors.execd program.
# Debian's own nodejs is too old (the processor needs Node >= 20), so the binary comes from the
# official Node image; the build fails here, not at run time, if it cannot start.
FROM node:20-bookworm-slim AS node

FROM telegraf:1.39
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN node --version \
 # The image runs Telegraf as the telegraf user; the processor keeps its replay state here.
 && mkdir -p /var/lib/meterproof && chown telegraf:telegraf /var/lib/meterproof
