# The official Telegraf image plus Node.js 24 LTS for meterproof's processors.execd program.
# Debian 12's own nodejs (18) is too old (the processor needs Node >= 20; 22 or 24 LTS recommended),
# so the binary comes from the official Node image, built on the same Debian release as Telegraf's.
# It goes to /usr/bin/node, the absolute path that the sample telegraf.conf's execd command names.
# The build fails here, not at run time, if it cannot start.
FROM node:24-bookworm-slim AS node

FROM telegraf:1.39
COPY --from=node /usr/local/bin/node /usr/bin/node
RUN /usr/bin/node --version \
 # The image runs Telegraf as the telegraf user; the processor keeps its replay state here.
 && mkdir -p /var/lib/meterproof && chown telegraf:telegraf /var/lib/meterproof
