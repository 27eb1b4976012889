"""Production gunicorn settings, read from vanban settings (VANBAN_CONFIG / VANBAN_* variables)."""
import gc
import os
import shutil
from pathlib import Path

from vanban.memory import tune_malloc
from vanban.settings import load_settings

_s = load_settings()

tune_malloc()  # inherited by the workers (vanban/memory.py)
bind = _s.bind
workers = int(_s.workers)
# gthread: a second thread per worker keeps a request waiting on fsync (or a long report) from stalling the
# worker. Slow clients (old PCs, poor links) never hold a thread: nginx buffers their requests and responses.
# More threads only fight over the GIL: on 2 cores, 4 threads per worker cost 10-40% more CPU per search and
# halved the document page's throughput in the benchmark's slow phases (README, "Web").
worker_class = "gthread"
threads = int(_s.threads)
timeout = 60
graceful_timeout = 20
keepalive = 5
max_requests = 100000  # recycle workers now and then: long-lived processes on old servers creep in memory
max_requests_jitter = 10000
# Log requests without the query string: search terms can be personal data.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
forwarded_allow_ips = "127.0.0.1,::1"
# gunicorn 27 opens a control socket under ~/.gunicorn by default, shared by every gunicorn of the user;
# the appliance's service user has no home to put it in, and systemd already controls the process.
control_socket_disable = True
# The master imports the app once and the workers fork from it, sharing its code and data pages (copy on write):
# on a 2005 server with 1–2 GB of RAM that is tens of MB per worker. on_starting closes every database handle
# the import opened, so no SQLite connection crosses a fork.
preload_app = True

# prometheus-client multiprocess mode: every worker writes its counters to files in this directory, which is
# emptied at start so values of dead processes from an earlier run do not linger. A second gunicorn on the same
# data directory (the hub's exchange endpoint, vanban-exchange.service) names its own in the environment, or
# its start would empty the web's.
_metrics_dir = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or Path(_s.data_dir) / "metrics")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


def on_starting(server):
    """In the master, after the app was preloaded and before any worker forks."""
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    _close_handles(getattr(server.app, "callable", None))
    # Objects that exist now live as long as the master: keep the collector from touching (and so copying)
    # their pages in every worker.
    gc.freeze()


def _close_handles(app):
    """A SQLite connection must not be used across fork(), and closing an inherited one in a worker would
    drop that worker's own POSIX locks on the file: close them in the master before forking. `app` is the
    preloaded WSGI app; the benchmark's hello-world has no vanban context and opened no database."""
    ctx = getattr(app, "ctx", None)
    if ctx is None:
        return
    from vanban.models import database

    database.close()
    ctx.jobs.huey.storage.close()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
