"""The doctor's follow-up web app (Starlette, server-rendered Jinja2 templates)."""
