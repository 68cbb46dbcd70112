# Stand-ins for the official Prometheus, Pushgateway and Alertmanager images, which exist
# only in registries this machine cannot reach: Debian's packages of the same programs,
# with the official images' entrypoints, default flags, user and data folders, so the
# compose file runs unchanged. tests/containers/container_test.sh tags each target under
# the official name (prom/prometheus:…) when no real image of that name is present.
FROM debian:bookworm-slim AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus prometheus-pushgateway prometheus-alertmanager \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus /alertmanager \
 && chown nobody:nogroup /prometheus /alertmanager
LABEL org.mlops.standin="debian-packages"

FROM base AS prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]

FROM base AS pushgateway
USER nobody
EXPOSE 9091
ENTRYPOINT ["/usr/bin/prometheus-pushgateway"]

FROM base AS alertmanager
USER nobody
WORKDIR /alertmanager
EXPOSE 9093
ENTRYPOINT ["/usr/bin/prometheus-alertmanager"]
CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]
