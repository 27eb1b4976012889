"""Web benchmark (issue 2): the app under its production gunicorn settings on a 1,000,000-document store.

    .venv/bin/python tests/perf/bench_web.py [--documents 1000000] [--duration 15]

What it does, in one run:
1. builds (or reuses) the store with gen_corpus.py under /var/tmp/vanban-bench and runs `vanban migrate` on it;
2. serves a Falcon hello-world (hello_app.py) with `gunicorn -c python:vanban.gunicorn_conf` (2 workers,
   gthread, the same access log): the framework's ceiling on this machine, measured in rounds alternating
   with the inbox's (so a shared machine's changing speed moves both alike);
3. serves the app the same way (vanban.wsgi:app) plus the job worker (`vanban worker`), logs in through the
   login form, and measures at 32 concurrent connections: the inbox page of a specialist (real session check,
   layout and counters), document pages, searches without diacritics (`quyet dinh`, `cong van`, `uy ban`,
   `quyet dinh dat dai dong nai`), and registering a document (multipart POST with a small PDF and the form's
   CSRF token); then single-user search latency, and the resident memory of the web and job workers.
clamd is not used here: the app runs with clamd_socket="" and antivirus_required=false, so registration
figures exclude the virus scan (a clamd INSTREAM of a small PDF adds a few ms on top).

Load generator: wrk (Debian package `wrk`), one thread, Lua scripts that send the session cookie. Its own CPU
time is read from the kernel (wait4 rusage) and printed next to the hello-world figure, to show it is not the
bottleneck. Each registered document is a new row (the store grows by a few thousand documents per run);
the job worker then extracts their PDFs' text for up to --drain-seconds (a figure of its own) and the rest of
the queue is dropped, so that a run never starts with a worker busy on an earlier run's documents.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(HERE))

import gen_corpus  # noqa: E402

CONNECTIONS = 32
SEARCHES = ["quyet dinh", "cong van", "uy ban", "quyet dinh dat dai dong nai"]
LUA = r"""
local paths = {%(paths)s}
local method = "%(method)s"
local body = nil
%(body)s
wrk.headers["Cookie"] = "%(cookie)s"
%(headers)s
local n = math.random(0, #paths - 1)
local seq = %(seq)d
request = function()
  n = n + 1
  local b = body
  if b then
    seq = seq + 1
    b = b:gsub("@@SEQ@@", tostring(seq))
  end
  return wrk.format(method, paths[(n %% #paths) + 1], nil, b)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "status_errors": %%d, ' ..
    '"socket_errors": %%d, "p50": %%d, "p95": %%d, "p99": %%d, "max": %%d}\n', summary.requests,
    summary.duration, e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A process group we started (gunicorn master + workers, or the job worker); stopped by its own pid."""

    def __init__(self, cmd, env, log: Path, port=None):
        self.port = port
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        if port:
            self._wait_ready()

    def _wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                status, _, _ = request(self.port, "GET", "/healthz")  # hello-world answers 404: also ready
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server on port {self.port} not ready; see {self.log.name}")

    def children(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            return [int(p) for p in text.split()]
        except OSError:
            return []

    def cpu_seconds(self) -> float:
        """CPU time of the master and its workers, live and reaped (gunicorn recycles workers every ~5000
        requests: their time moves to the master's cutime/cstime when it waits for them)."""
        tick = os.sysconf("SC_CLK_TCK")

        def fields(pid):
            try:
                return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None

        master = fields(self.proc.pid)
        if master is None:
            return 0.0
        total = sum(int(v) for v in master[11:15])  # utime stime cutime cstime
        for pid in self.children():
            f = fields(pid)
            total += sum(int(v) for v in f[11:13]) if f else 0
        return total / tick

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()  # headers: case-insensitive
    finally:
        conn.close()


def memory(pid: int) -> dict:
    """Resident memory (VmRSS), its peak (VmHWM) and PSS (shared pages divided among the processes), MiB."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line[:5].lower()] = int(line.split()[1]) / 1024
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def lua_script(tmp: Path, name, paths, cookie="", method="GET", body_file=None, headers=None) -> Path:
    body = f'local f = io.open("{body_file}", "rb"); body = f:read("*a"); f:close()' if body_file else ""
    hdrs = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items())
    script = tmp / f"{name}.lua"
    script.write_text(LUA % {"paths": ", ".join(json.dumps(p) for p in paths), "method": method, "body": body,
                             "cookie": cookie, "headers": hdrs, "seq": int(time.time()) % 1_000_000 * 100})
    return script


def wrk(port, script: Path, duration: int, connections=CONNECTIONS, server=None) -> dict:
    """Run wrk; returns its summary, its own CPU (from wait4's rusage), the server's CPU per request and the
    load average: on a shared machine, CPU per request is the figure that other load does not move."""
    cpu0 = server.cpu_seconds() if server else 0.0
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
                                 "-s", str(script), f"http://127.0.0.1:{port}"], stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    match = re.search(r"^RESULT (.*)$", text, re.M)
    if proc.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed: {text}")
    r = json.loads(match.group(1))
    seconds = r["duration_us"] / 1e6
    server_cpu = (server.cpu_seconds() - cpu0) if server else 0.0
    return {"rps": r["requests"] / seconds, "p50": r["p50"] / 1000, "p95": r["p95"] / 1000,
            "p99": r["p99"] / 1000, "errors": r["status_errors"] + r["socket_errors"], "requests": r["requests"],
            "client_cpu": (usage.ru_utime + usage.ru_stime) / seconds, "connections": connections,
            "cpu_ms": 1000 * server_cpu / max(r["requests"], 1), "load": (load0 + os.getloadavg()[0]) / 2}


# This machine's speed swings between two levels every few seconds (hello-world 2,500 or 6,000 req/s, the
# kernel's share of the time tripling in the slow phase): the inbox is compared with the hello-world round
# just before it, and the median of those pairs is its share.
ROUNDS = 8


def round_seconds(duration: int) -> int:
    return max(2, duration // ROUNDS)


def combine(rounds: list[dict]) -> dict:
    """Rounds of one scenario as one: throughput and CPU over all requests, latency percentiles of the median
    round (by throughput), the highest client CPU and the mean load."""
    total = sum(r["requests"] for r in rounds)
    seconds = sum(r["requests"] / r["rps"] for r in rounds if r["rps"])
    median = sorted(rounds, key=lambda r: r["rps"])[len(rounds) // 2]
    return {**median, "rps": total / seconds, "requests": total, "errors": sum(r["errors"] for r in rounds),
            "client_cpu": max(r["client_cpu"] for r in rounds),
            "cpu_ms": sum(r["cpu_ms"] * r["requests"] for r in rounds) / max(total, 1),
            "load": sum(r["load"] for r in rounds) / len(rounds), "rounds": len(rounds)}


def login(port, username, password) -> tuple[str, str]:
    """Log in through the form; returns (cookie header value, the session's CSRF token)."""
    form = urllib.parse.urlencode({"username": username, "password": password, "next": "/inbox"})
    status, headers, _ = request(port, "POST", "/login", form,
                                 {"Content-Type": "application/x-www-form-urlencoded"})
    cookie = headers.get("Set-Cookie", "").split(";")[0]
    if status != 303 or not cookie.startswith("vb_session="):
        raise RuntimeError(f"login of {username} failed: {status}")
    status, _, page = request(port, "GET", "/inbox", headers={"Cookie": cookie})
    csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    if status != 200 or not csrf:
        raise RuntimeError(f"inbox of {username} did not render: {status}")
    return cookie, csrf.group(1).decode()


def small_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 7, "UBND tinh Dong Nai\nSo: 125/UBND-KTN\nV/v trien khai thuc hien cong tac quan ly dat dai")
    return bytes(pdf.output())


def register_body(tmp: Path, csrf: str, register_id: int) -> tuple[Path, str]:
    boundary = "vanbanbench7d1f"
    fields = {"csrf_token": csrf, "register_id": str(register_id), "issuer_name": "Sở Tài nguyên và Môi trường tỉnh Đồng Nai",
              "issuer_code": "H19.22", "number_notation": "@@SEQ@@/STNMT-QLĐĐ", "doc_date": time.strftime("%Y-%m-%d"),
              "doc_type": "CV", "subject": "V/v triển khai thực hiện công tác quản lý đất đai trên địa bàn huyện",
              "urgency": "0", "confidentiality": "0", "deadline": "", "medium": "electronic",
              "confirm_duplicate": "1"}
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="cv-125.pdf"\r\n'
                 f"Content-Type: application/pdf\r\n\r\n".encode() + small_pdf() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    path = tmp / "register.body"
    path.write_bytes(b"".join(parts))
    return path, f"multipart/form-data; boundary={boundary}"


def single_user(port, cookie, query, runs=200, warmup=20) -> dict:
    """One user, one keep-alive connection, sequential requests: the latency a person sees."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    path = "/search?" + urllib.parse.urlencode({"q": query})
    times = []
    for i in range(warmup + runs):
        t = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"search {query!r}: {resp.status}")
        if i >= warmup:
            times.append((time.perf_counter() - t) * 1000)
    conn.close()
    times.sort()
    return {"p50": statistics.median(times), "p95": times[int(len(times) * 0.95) - 1], "max": times[-1]}


def sample_documents(db: Path, user_id: int, n=300) -> list[int]:
    """Non-confidential documents the specialist handled (what people open from their inbox), spread over time."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute("SELECT a.document_id FROM assignment a JOIN document d ON d.id = a.document_id WHERE "
                       "a.assignee_id = ? AND d.confidentiality = 0 ORDER BY random() LIMIT ?", (user_id, n)).fetchall()
    con.close()
    return [r[0] for r in rows]


def ensure_schema(data_dir: Path) -> None:
    """Bring a cached store to the current schema with the migrations module itself: `vanban migrate` would
    first take a pre-upgrade backup of 2.5 GB (and wants the backup passphrase of a real server)."""
    from vanban.clock import SystemClock
    from vanban.models import database, init_database, migrations

    init_database(data_dir / "vanban.db")
    applied = migrations.migrate(SystemClock().local())
    database.close()
    if applied:
        print(f"applied migrations {applied} to the cached store")


def write_config(tmp: Path, data_dir: Path, port: int) -> Path:
    conf = tmp / "vanban.toml"
    conf.write_text(f'data_dir = "{data_dir}"\nbind = "127.0.0.1:{port}"\nclamd_socket = ""\n'
                    f"antivirus_required = false\ncookie_secure = false\n")
    return conf


def run(args) -> dict:
    data_dir = Path(args.data_dir) if args.data_dir else gen_corpus.default_dir(args.documents)
    gen_corpus.build(data_dir, args.documents)
    ensure_schema(data_dir)
    leftover = queued_jobs(data_dir)
    if leftover:  # an earlier run stopped before its job worker had drained the queue
        purge_jobs(data_dir)
        print(f"removed {leftover} queued jobs an earlier run left (text extraction of the documents it "
              "registered): a worker busy with them would take a core from the web processes")
    meta = json.loads((data_dir / "bench.json").read_text())
    logins = json.loads((data_dir / "bench-logins.json").read_text())
    db = data_dir / "vanban.db"
    tmp = Path(tempfile.mkdtemp(prefix="vanban-bench-"))
    results, mem = {}, {}
    gunicorn = [str(BIN / "gunicorn"), "-c", "python:vanban.gunicorn_conf"]

    # 1. the framework's ceiling, served next to the app (idle while the app is measured)
    hello_port = free_port()
    conf = write_config(tmp, tmp / "hello-data", hello_port)
    hello = Server(gunicorn + ["--chdir", str(HERE), "hello_app:app"], {"VANBAN_CONFIG": str(conf)},
                   tmp / "hello.log", hello_port)
    hello_script = lua_script(tmp, "hello", ["/"])
    wrk(hello_port, hello_script, 3)

    # 2. the app and its job worker
    port = free_port()
    conf = write_config(tmp, data_dir, port)
    env = {"VANBAN_CONFIG": str(conf)}
    try:
        web = Server(gunicorn + ["vanban.wsgi:app"], env, tmp / "web.log", port)
    except Exception:
        hello.stop()
        raise
    worker = Server([str(BIN / "vanban"), "worker"], env, tmp / "worker.log")
    try:
        users = meta["bench_users"]
        spec_cookie, _ = login(port, users["specialist"], logins[users["specialist"]])
        clerk_cookie, clerk_csrf = login(port, users["clerk"], logins[users["clerk"]])
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        spec_id = con.execute("SELECT id FROM user WHERE username = ?", (users["specialist"],)).fetchone()[0]
        register_id = con.execute("SELECT r.id FROM register r JOIN user u ON u.agency_id = r.agency_id WHERE "
                                  "u.id = ? AND r.kind = 'incoming' AND r.confidential = 0", (spec_id,)).fetchone()[0]
        con.close()
        docs = sample_documents(db, spec_id)
        checks = {"/inbox": b"count todo", f"/documents/{docs[0]}": b"</svg>",
                  "/search?q=quyet+dinh": b'class="results"'}
        for path, marker in checks.items():
            status, _, page = request(port, "GET", path, headers={"Cookie": spec_cookie})
            if status != 200 or marker not in page:
                raise RuntimeError(f"{path}: {status}, marker {marker!r} missing")
        # The ratio the target is about: hello-world and inbox in alternating rounds, so that a change in
        # the shared machine's speed during the run moves both alike.
        inbox_script = lua_script(tmp, "inbox", ["/inbox"], spec_cookie)
        wrk(port, inbox_script, 3)
        rounds = {"hello-world": [], "inbox": []}
        for _ in range(ROUNDS):
            rounds["hello-world"].append(wrk(hello_port, hello_script, round_seconds(args.duration), server=hello))
            rounds["inbox"].append(wrk(port, inbox_script, round_seconds(args.duration), server=web))
        results.update({name: combine(rs) for name, rs in rounds.items()})
        pairs = sorted(i["rps"] / h["rps"] for h, i in zip(rounds["hello-world"], rounds["inbox"], strict=True))
        results["inbox"]["share"], results["inbox"]["pairs"] = statistics.median(pairs), pairs  # of hello-world, by pairs of adjacent rounds
        scenarios = [
            ("document page", [f"/documents/{d}" for d in docs], spec_cookie),
            ("search (4 queries)", ["/search?" + urllib.parse.urlencode({"q": q}) for q in SEARCHES], spec_cookie),
        ]
        for name, paths, cookie in scenarios:
            script = lua_script(tmp, name.split()[0], paths, cookie)
            wrk(port, script, 3)  # warm the caches and the connections
            results[name] = wrk(port, script, args.duration, server=web)
        for q in SEARCHES:
            results[f"search '{q}' 1 user"] = single_user(port, spec_cookie, q)
        body, ctype = register_body(tmp, clerk_csrf, register_id)
        before = _count_documents(db)
        script = lua_script(tmp, "register", ["/documents"], clerk_cookie, "POST", body,
                            {"Content-Type": ctype})
        results["register document"] = wrk(port, script, args.duration, server=web)
        registered = _count_documents(db) - before
        if registered < results["register document"]["requests"]:  # in-flight ones at the end also land
            print(f"warning: {registered} documents registered for {results['register document']['requests']} "
                  f"requests")
        time.sleep(2)  # let the job worker extract the new attachments' text
        for i, pid in enumerate(web.children()):
            mem[f"web worker {i + 1}"] = memory(pid)
        mem["job worker"] = memory(worker.proc.pid)
        mem["gunicorn master"] = memory(web.proc.pid)
        results["text extraction"] = drain_jobs(data_dir, worker, args.drain_seconds)
    finally:
        worker.stop()
        web.stop()
        hello.stop()
    mem["job worker, hub configured"] = connected_job_worker(tmp)
    return {"results": results, "memory": mem, "meta": meta, "data_dir": str(data_dir), "logs": str(tmp)}


def connected_job_worker(tmp: Path) -> dict:
    """The bench store has no hub configured, so its job worker never loads the exchange libraries. A node
    enrolled with a hub does, on its first exchange run: measured on a small store whose exchange.toml names a
    hub on a closed loopback port (the run fails to connect after the imports, as during an uplink outage)."""
    data = tmp / "connected-data"
    (tmp / "connected").mkdir()
    conf = write_config(tmp / "connected", data, free_port())
    env = {"VANBAN_CONFIG": str(conf)}
    subprocess.run([str(BIN / "vanban"), "init"], env={**os.environ, **env}, check=True, capture_output=True)
    (data / "exchange.toml").write_text(f'node_name = "bench"\nhub_url = "https://127.0.0.1:{free_port()}"\n')
    worker = Server([str(BIN / "vanban"), "worker"], env, tmp / "connected-worker.log")
    try:
        time.sleep(62 - time.time() % 60 + 5)  # periodic jobs run at the start of each minute
        return memory(worker.proc.pid)
    finally:
        worker.stop()


def queued_jobs(data_dir: Path) -> int:
    con = sqlite3.connect(f"file:{data_dir / 'huey.db'}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM task").fetchone()[0]
    except sqlite3.OperationalError:  # no queue yet
        return 0
    finally:
        con.close()


def purge_jobs(data_dir: Path) -> None:
    con = sqlite3.connect(data_dir / "huey.db")
    try:
        with con:
            con.execute("DELETE FROM task")
    finally:
        con.close()


def drain_jobs(data_dir: Path, worker: Server, seconds: int) -> dict:
    """The registered documents' text extraction (a child process per PDF, vanban/pdftext.py), measured on the
    job worker for up to `seconds`; what is left then is removed, so the next run starts with an empty queue."""
    start_count, started = queued_jobs(data_dir), time.monotonic()
    cpu0 = worker.cpu_seconds()
    while queued_jobs(data_dir) and time.monotonic() - started < seconds:
        time.sleep(1)
    elapsed, left = time.monotonic() - started, queued_jobs(data_dir)
    done = start_count - left
    cpu = worker.cpu_seconds() - cpu0
    if left:
        purge_jobs(data_dir)
    return {"queued": start_count, "done": done, "seconds": elapsed, "left": left,
            "per_second": done / elapsed if elapsed else 0.0, "cpu_ms": 1000 * cpu / max(done, 1)}


def _count_documents(db: Path) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT max(id) FROM document").fetchone()[0]
    finally:
        con.close()


def report(out: dict, command: str) -> str:
    from vanban.settings import load_settings

    res, mem = out["results"], out["memory"]
    hello = res["hello-world"]["rps"]
    web = load_settings()  # what the servers ran with (defaults and VANBAN_* variables)
    lines = [f"Store: {out['meta']['params']['documents']:,} documents ({out['data_dir']}, "
             f"{out['meta']['db_bytes'] / 2**30:.1f} GiB); gunicorn -c python:vanban.gunicorn_conf "
             f"({web.workers} workers, gthread {web.threads} threads); wrk -t1 -c{CONNECTIONS}; {os.cpu_count()} CPUs.", "",
             "| scenario | conns | req/s | % of hello-world | p50 ms | p95 ms | p99 ms | errors | server CPU ms/req "
             "| load avg |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    hello_cpu = res["hello-world"]["cpu_ms"]
    for name, r in res.items():
        if name == "text extraction":
            continue
        if "rps" in r:
            share = r.get("share", r["rps"] / hello)
            lines.append(f"| {name} | {r['connections']} | {r['rps']:,.0f} | {100 * share:.0f}% | "
                         f"{r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['errors']} | {r['cpu_ms']:.2f} | "
                         f"{r['load']:.1f} |")
        else:
            lines.append(f"| {name} | 1 | | | {r['p50']:.1f} | {r['p95']:.1f} | | 0 | | |")
    lines += ["", f"wrk's own CPU at the hello-world rate: {100 * res['hello-world']['client_cpu']:.0f}% of one core "
              "(so the client is not what limits these figures). Server CPU per request is the web processes' CPU "
              "time (master and workers, recycled ones included) over the requests served: unlike req/s it does "
              f"not move with other load on the machine (load average column; {os.cpu_count()} CPUs). By CPU per "
              f"request the inbox costs {res['inbox']['cpu_ms'] / hello_cpu:.1f}× the hello-world, i.e. "
              f"{100 * hello_cpu / res['inbox']['cpu_ms']:.0f}% of its throughput on an otherwise idle machine.", "",
              "| process | RSS MiB | peak RSS MiB | PSS MiB |", "|---|---:|---:|---:|"]
    ext = res.get("text extraction")
    if ext:
        lines[-2:-2] = [f"Text extraction of the registered PDFs on the job worker: {ext['done']} of {ext['queued']} in "
                        f"{ext['seconds']:.0f} s ({ext['per_second']:.1f}/s, {ext['cpu_ms']:.0f} ms of CPU each with "
                        f"its child process); {ext['left']} left unextracted and removed from the queue.", ""]
    for name, m in mem.items():
        lines.append(f"| {name} | {m.get('vmrss', 0):.0f} | {m.get('vmhwm', 0):.0f} | {m.get('pss', 0):.0f} |")
    measured = {n: m for n, m in mem.items() if "worker" in n and "hub" not in n}
    total = sum(m.get("vmrss", 0) for m in measured.values())
    total_pss = sum(m.get("pss", 0) for m in measured.values())
    lines.append(f"| web + job workers | {total:.0f} | | {total_pss:.0f} |")
    hub = mem.get("job worker, hub configured", {})
    if hub:
        extra = hub.get("vmrss", 0) - mem["job worker"].get("vmrss", 0)
        lines.append(f"| web + job workers, hub configured | {total + extra:.0f} | | "
                     f"{total_pss + hub.get('pss', 0) - mem['job worker'].get('pss', 0):.0f} |")
    with_master = total_pss + sum(m.get("pss", 0) for n, m in mem.items() if "master" in n)
    inbox, search = res["inbox"], res["search (4 queries)"]
    common = max(r["p95"] for n, r in res.items() if n.endswith("1 user") and "dong nai" not in n)
    lines += ["", "Targets:",
              f"- inbox ≥ 50% of hello-world: {100 * inbox['share']:.0f}% (median of {len(inbox['pairs'])} "
              f"alternating pairs: {', '.join(f'{100 * x:.0f}' for x in inbox['pairs'])}) "
              f"{'OK' if inbox['share'] >= 0.5 else 'MISSED'}; p95 < 50 ms: {inbox['p95']:.1f} ms "
              f"{'OK' if inbox['p95'] < 50 else 'MISSED'}",
              f"- common-term search p95 (1 user) < 50 ms: {common:.1f} ms {'OK' if common < 50 else 'MISSED'}; "
              f"≥ 200 searches/s: {search['rps']:.0f} {'OK' if search['rps'] >= 200 else 'MISSED'} (at "
              f"{search['cpu_ms']:.2f} ms of server CPU a search, {os.cpu_count()} idle CPUs would serve at most "
              f"{1000 * os.cpu_count() / search['cpu_ms']:.0f}/s)",
              f"- web + job workers < 150 MB resident: PSS {total_pss:.0f} MiB {'OK' if total_pss < 150 else 'MISSED'} "
              f"({with_master:.0f} MiB with the gunicorn master); the RSS sum, {total:.0f} MiB, counts the pages the "
              "preloaded master shares with each worker once per process", "", f"Command: `{command}`"]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--documents", type=int, default=1_000_000)
    ap.add_argument("--data-dir", help="store to use (default: /var/tmp/vanban-bench/docs-<N>, generated if missing)")
    ap.add_argument("--duration", type=int, default=15, help="seconds per measured scenario")
    ap.add_argument("--json", help="also write the raw figures to this file")
    ap.add_argument("--drain-seconds", type=int, default=60,
                    help="how long the job worker extracts the registered documents' text before the rest is dropped")
    args = ap.parse_args(argv)
    out = run(args)
    command = ".venv/bin/python tests/perf/bench_web.py" + (
        f" --documents {args.documents}" if args.documents != 1_000_000 else "")
    text = report(out, command)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
