#!/usr/bin/env bash
# The stand-in's entrypoint: the command dispatch of the official image's /entrypoint, without its
# database wait and set-up hooks (see airflow.Dockerfile).
set -euo pipefail
case "${1:-}" in
    bash) shift; exec /bin/bash "$@" ;;
    python) shift; exec python "$@" ;;
    airflow) shift ;;
esac
exec airflow "$@"
