"""gunicorn entry: `gunicorn -c python:vanban.gunicorn_conf vanban.wsgi:app` (settings from VANBAN_CONFIG)."""
from .settings import load_settings
from .web.app import create_app

app = create_app(load_settings())
