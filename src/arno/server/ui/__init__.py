"""The web UI: server-rendered Jinja2 pages, a little plain JavaScript, Plotly for charts."""
