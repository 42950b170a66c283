# syntax=docker/dockerfile:1
#
# Courier on the official Apache Airflow image.
#
#   docker build -t airflow-courier:0.1.0 .
#
# One image serves every role: api-server, scheduler, dag-processor, triggerer, the KubernetesExecutor
# worker pods, and the pods Courier itself starts in `execution_mode = kubernetes` ([courier] worker_image).
# What it adds to the base image: the exact dependency versions of uv.lock, the `airflow-courier`
# distribution (plugin, provider info, triggers, the `courier` CLI), and the DAG files.
# See docs/DEPLOY.md for docker compose and for the official Helm chart.

# uv, pinned to the release that wrote uv.lock (lock format revision 5). It is taken as a static binary
# from its own image, so installing it changes nothing in Airflow's Python environment.
ARG UV_VERSION=0.13.9
FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM apache/airflow:3.3.2-python3.11

# Fail a RUN on the first failing command, including inside pipes and on unset variables.
SHELL ["/bin/bash", "-o", "pipefail", "-o", "errexit", "-o", "nounset", "-c"]

# The base image's user is `airflow` (uid 50000, gid 0), and Airflow lives in the virtualenv
# /home/airflow/.local, which VIRTUAL_ENV and PATH point at. Everything below is installed as that user
# into that virtualenv: packages installed as root would land where the components do not look, and files
# owned by root would be unwritable at run time (the chart and OpenShift run the image as uid 50000/gid 0).
# The uid is numeric, as in the base image, so Kubernetes' runAsNonRoot can verify it.
USER 50000

COPY --from=uv /uv /usr/local/bin/uv

# Build-time settings for uv only (they do not persist in the image): never download an interpreter
# (use the image's Python 3.11), compile bytecode once here instead of at every container start, and keep
# no download cache in the layer.
ARG UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1

# "strict" fails the build if the final environment has conflicting requirements (`uv pip check`).
# "warn" only prints them: the base image ships many providers Courier does not use (google, snowflake,
# ...), and one of them may declare a bound that a newer locked version crosses. Prefer fixing the lock.
ARG COURIER_PIP_CHECK=strict

# 1. Third-party dependencies, from the lock alone. Only pyproject.toml, uv.lock and README.md are copied
#    first so that this slow layer is rebuilt only when the lock changes, not on every code change.
#    `uv export --frozen` turns uv.lock into a fully pinned requirements file with hashes (never re-resolving
#    it; `--no-dev` drops the test tools, `--no-emit-project` leaves Courier itself out). It is the complete
#    dependency closure, so `--no-deps` installs exactly those versions and nothing the resolver would pick
#    on its own; uv verifies the hashes while downloading. Packages the base image already has at the
#    locked version are kept; others are replaced by the locked version. Providers the base image ships
#    and Courier does not lock (fab for the chart's auth manager, celery for CeleryExecutor, ...) stay.
RUN mkdir -p /tmp/courier-src
COPY --chown=50000:0 pyproject.toml uv.lock README.md /tmp/courier-src/
RUN uv export --quiet --project /tmp/courier-src --frozen --no-dev --no-emit-project --format requirements.txt \
         --output-file /tmp/courier-requirements.txt \
    && uv pip install --python "${VIRTUAL_ENV}/bin/python" --no-deps \
         --requirements /tmp/courier-requirements.txt \
    && rm /tmp/courier-requirements.txt

# 2. Courier itself, as a regular (non-editable) wheel built from plugins/courier: its dependencies are
#    already in place from step 1, hence --no-deps. The package is installed into site-packages, not copied
#    into $AIRFLOW_HOME/plugins: Airflow loads it through its `airflow.plugins` entry point, and the
#    triggerer and the API server (which never read DAG bundles) import it from there.
COPY --chown=50000:0 plugins/ /tmp/courier-src/plugins/
RUN uv pip install --python "${VIRTUAL_ENV}/bin/python" --no-deps /tmp/courier-src

# 3. Check the result while building rather than at the first task: the environment is consistent
#    (see COURIER_PIP_CHECK), the installed Courier is the one of pyproject.toml, its entry points are
#    registered, and the `courier` console script runs. This imports no Airflow module, so no airflow.cfg
#    or other state is written into the image. The sources are removed afterwards (they are installed).
RUN if ! uv pip check --python "${VIRTUAL_ENV}/bin/python"; then \
        if [ "${COURIER_PIP_CHECK}" = "warn" ]; then \
            echo "WARNING: conflicting requirements above (COURIER_PIP_CHECK=warn)" >&2; \
        else \
            echo "conflicting requirements above: fix uv.lock, or build with --build-arg COURIER_PIP_CHECK=warn" >&2; \
            exit 1; \
        fi; \
    fi \
    && python -c 'import tomllib; from importlib.metadata import entry_points as eps, version as v; \
want = tomllib.load(open("/tmp/courier-src/pyproject.toml", "rb"))["project"]["version"]; \
assert v("airflow-courier") == want, (v("airflow-courier"), want); \
assert v("apache-airflow-core") == "3.3.2", v("apache-airflow-core"); \
assert {e.name: e.value for e in eps(group="airflow.plugins")}.get("courier") == "courier.plugin:CourierPlugin"; \
assert "courier.provider_info:get_provider_info" in {e.value for e in eps(group="apache_airflow_provider")}' \
    && courier --help >/dev/null \
    && rm -rf /tmp/courier-src

# 4. DAGs are baked into the image at Airflow's default DAG folder ($AIRFLOW_HOME/dags): the Helm values
#    disable DAG persistence and git-sync, so every component and every worker pod sees the same DAGs
#    as the image tag. include/ holds the non-Python assets the DAGs and tasks read (spec lists, sample
#    data, SQL templates); it goes next to them, at /opt/airflow/include.
COPY --chown=50000:0 dags/ /opt/airflow/dags/
COPY --chown=50000:0 include/ /opt/airflow/include/

# 5. Runtime defaults.
#    - No example DAGs: only Courier's DAGs appear in the UI (the chart and compose set it again).
#    - COURIER_HOME: a fixed home for Courier's local files; the default storage base is file://$COURIER_HOME/data.
#      Created here, owned by airflow, so a volume mounted on it (docker compose) starts writable.
ENV AIRFLOW__CORE__LOAD_EXAMPLES=False \
    COURIER_HOME=/opt/airflow/courier
RUN mkdir -p "${COURIER_HOME}/data"

# Run as airflow (uid 50000), never root; the base image's entrypoint and default command are kept, so
# `docker run airflow-courier:0.1.0 api-server` (or scheduler, dag-processor, triggerer) works as usual.
USER 50000
