"""The framework's ceiling for bench_web.py: a Falcon hello-world served by the production gunicorn settings.

    gunicorn -c python:vanban.gunicorn_conf --chdir tests/perf hello_app:app
"""
import falcon


class Hello:
    def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello, world!"


app = falcon.App()
app.add_route("/", Hello())
