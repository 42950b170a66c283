# A local stand-in for apache/airflow:3.3.2-python3.11, for machines that cannot pull it (see
# docs/DEPLOY.md, "What ran here"). Built by tests/deploy/images.py on a debootstrap'ed Debian bookworm
# (minbase + python3, python3-venv, curl, dumb-init), imported with `docker import` as ROOTFS.
#
# It copies the parts of the official image's layout that Courier's Dockerfile, docker-compose.yaml and the
# Helm chart rely on, and nothing else:
#   - user `airflow`, uid 50000, primary group 0, home /home/airflow; files group-writable for group 0;
#   - AIRFLOW_HOME=/opt/airflow with dags/, logs/, plugins/; WORKDIR /opt/airflow;
#   - the Python environment is a virtualenv at /home/airflow/.local (VIRTUAL_ENV), first on PATH, with pip;
#   - ENTRYPOINT dumb-init -> /entrypoint: `bash ...` and `python ...` run as given, `airflow X` and a bare
#     Airflow subcommand (`api-server`, `scheduler`, ...) run `airflow X`; default CMD empty.
# Not copied: Airflow itself (the project's Dockerfile installs the locked Airflow into the virtualenv),
# the official entrypoint's database wait (CONNECTION_CHECK_MAX_COUNT), _AIRFLOW_DB_MIGRATE,
# _AIRFLOW_WWW_USER_CREATE, _PIP_ADDITIONAL_REQUIREMENTS, and its arbitrary-uid /etc/passwd entry.
ARG ROOTFS
FROM ${ROOTFS}
LABEL org.courier.standin="apache/airflow:3.3.2-python3.11 stand-in: debootstrap bookworm minbase + Debian python3.11, no Airflow preinstalled"
ENV AIRFLOW_HOME=/opt/airflow \
    AIRFLOW_USER_HOME_DIR=/home/airflow \
    VIRTUAL_ENV=/home/airflow/.local \
    PATH=/home/airflow/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8 \
    LC_ALL=C.UTF-8
COPY entrypoint.sh /entrypoint
RUN useradd --uid 50000 --gid 0 --home-dir /home/airflow --create-home --shell /bin/bash airflow \
    && mkdir -p /opt/airflow/dags /opt/airflow/logs /opt/airflow/plugins \
    && chown -R 50000:0 /opt/airflow /home/airflow \
    && chmod -R g+rwX /opt/airflow /home/airflow \
    && chmod 0755 /entrypoint \
    && printf '%s\n' "stand-in for apache/airflow:3.3.2-python3.11 (tests/deploy/standin/airflow.Dockerfile)" >/etc/courier-standin
USER 50000
RUN python3 -m venv /home/airflow/.local
WORKDIR /opt/airflow
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/entrypoint"]
CMD []
