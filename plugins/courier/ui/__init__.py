"""Courier's pages in the Airflow web UI: server-rendered HTML under ``/courier/ui``, shown in Airflow's
navigation through the plugin's ``external_views`` (see docs/ARCHITECTURE.md, "Pages in the Airflow UI")."""
