"""The Streamlit + Plotly dashboard: live values from Redis, history from the database."""
