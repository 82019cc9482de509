"""The Streamlit dashboard. Pages are thin: they render and call `workers` and `db` functions."""
