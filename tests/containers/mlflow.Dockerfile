# A stand-in for the official MLflow 2.9 image (ghcr.io/mlflow/mlflow), which this machine
# cannot pull: MLflow's own tracking server from ../shared/mlflow-server (its source and
# setup.sh, which installs Debian's python3 packages), with `mlflow` and `python` on the
# PATH like the official image, so the compose file's command and health check run
# unchanged. Build context: a copy of ../shared/mlflow-server (tests/containers/container_test.sh).
FROM debian:bookworm-slim
COPY . /opt/mlflow-setup
RUN echo 'APT::Install-Recommends "false";' > /etc/apt/apt.conf.d/00no-recommends \
 && apt-get update \
 && apt-get install -y python3 python-is-python3 \
 && bash /opt/mlflow-setup/setup.sh "" /opt/mlflow \
 && rm -rf /var/lib/apt/lists/* /opt/mlflow-setup \
 && printf '#!/bin/sh\nexec python3 -m mlflow "$@"\n' > /usr/local/bin/mlflow \
 && chmod 0755 /usr/local/bin/mlflow
ENV PYTHONPATH=/opt/mlflow/src:/opt/mlflow/stubs
LABEL org.mlops.standin="shared-mlflow-server"
EXPOSE 5000
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]
