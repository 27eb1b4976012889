"""Generate a realistic store of incoming documents for one district, for the web benchmark (bench_web.py).

    .venv/bin/python tests/perf/gen_corpus.py [DATA_DIR] --documents 1000000

DATA_DIR defaults to /var/tmp/vanban-bench/docs-<N>. A finished store carries bench.json with the parameters
it was built with; a later call with the same parameters reuses it and returns at once.

What is in it (one district People's Committee, UBND huyện Nhơn Trạch):
- the agency, 12 departments, ~80 users (leaders, clerks, unit heads, specialists), created through the core
  use cases with real argon2id hashes; the logins are written to DATA_DIR/bench-logins.json;
- N incoming documents over the last ~5 years of working days (newest = highest id), numbered per register and
  year (arrival numbers restart on 1 January), subjects, notations and issuers from vanban.corpus (a skewed word
  distribution), 0.5% confidential in the secret register, 90% electronic with a PDF attachment whose extracted
  text (a short, formulaic body: "Thực hiện Công văn số ... của Ủy ban nhân dân tỉnh ...") is in the index;
- the routing history of every document: presented to a leader, lead unit + co-handling units + readers with
  deadlines, the unit head's hand-over to a specialist, comments and completions. Old documents are done; the
  last days are open; a few older ones are stuck (overdue). The benchmark specialist (cv1.tnmt) ends up with
  tens of open items and tens of thousands done;
- the FTS rows, folded with vanban.text.fold, scope tokens from core.indexing.scope_tokens; then FTS5
  'optimize' and ANALYZE.
Not generated: audit log entries for the bulk rows (the chain only holds the seeding), login failures, sessions.

Speed: rows are built in Python and written with executemany in transactions of 20,000 documents through a
private sqlite3 connection with journal_mode=OFF and synchronous=OFF, and the secondary indexes are dropped
while loading and rebuilt afterwards. That is for generation only: an interrupted run leaves no bench.json and
is rebuilt from scratch next time; the store is switched back to WAL at the end and the app opens it with its
own pragmas (synchronous=FULL). Measured on the 2-CPU test machine (shared with other jobs): 1,000,000 documents,
4.2M assignments, 1.5M events, 0.9M attachments in 8.5 minutes (5.6 min of inserts, 2.5 min of index rebuild,
FTS optimize and ANALYZE 12 s each); vanban.db 2.4 GiB.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from vanban import corpus
from vanban.core.doctypes import TYPE_ABBREV, TYPE_NAMES
from vanban.core.indexing import scope_tokens
from vanban.text import fold

GEN_VERSION = 3  # bump when the generated content changes, so cached stores are rebuilt
CACHE_ROOT = Path("/var/tmp/vanban-bench")
YEARS = 5
BATCH = 20_000
BENCH_SPECIALIST = "cv1.tnmt"

DEPARTMENTS = [  # name, abbreviation, specialists, share of lead assignments
    ("Văn phòng HĐND và UBND", "VP", 6, 10), ("Phòng Nội vụ", "NV", 5, 8), ("Phòng Tư pháp", "TP", 4, 5),
    ("Phòng Tài chính - Kế hoạch", "TCKH", 6, 12), ("Phòng Tài nguyên và Môi trường", "TNMT", 6, 20),
    ("Phòng Lao động - Thương binh và Xã hội", "LDTBXH", 5, 7), ("Phòng Văn hóa và Thông tin", "VHTT", 4, 5),
    ("Phòng Giáo dục và Đào tạo", "GDDT", 5, 7), ("Phòng Y tế", "YT", 3, 4), ("Thanh tra huyện", "TTR", 4, 6),
    ("Phòng Kinh tế - Hạ tầng", "KTHT", 6, 10), ("Phòng Nông nghiệp và Phát triển nông thôn", "NNPTNT", 5, 6),
]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Thanh", "Ngọc", "Quốc", "Đức", "Thị Thu", "Hoàng"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Lan", "Linh", "Mai", "Nam",
         "Phong", "Phương", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Yến", "Khoa", "Nhung"]
INSTRUCTIONS = ["Giao phòng chủ trì tham mưu, báo cáo kết quả.", "Đề nghị xử lý theo quy định.",
                "Khẩn trương thực hiện, báo cáo UBND huyện trước thời hạn.",
                "Phối hợp các đơn vị liên quan kiểm tra, đề xuất.", "Tham mưu văn bản trả lời."]
COMMENTS = ["Đã kiểm tra hồ sơ, đang dự thảo văn bản trả lời.", "Đã liên hệ đơn vị liên quan, chờ số liệu.",
            "Đề nghị gia hạn do cần xác minh thực địa."]
DONE_NOTES = ["Đã tham mưu văn bản trả lời.", "Đã báo cáo kết quả.", "Đã thực hiện xong.", ""]
BODY_LEADS = [("Thực hiện Công văn số {n}/{nt} ngày {d} của {iss} về việc {topic};", 45),
              ("Căn cứ Quyết định số {n}/QĐ-UBND ngày {d} của Ủy ban nhân dân tỉnh Đồng Nai;", 30),
              ("Căn cứ Luật Tổ chức chính quyền địa phương;", 15), ("", 25)]
BODY_ASKS = [("{iss} đề nghị Ủy ban nhân dân huyện Nhơn Trạch chỉ đạo các phòng, ban chuyên môn {act} {topic}, "
              "báo cáo kết quả trước ngày {dl}.", 50),
             ("Đề nghị Ủy ban nhân dân các huyện, thành phố {act} {topic} theo đúng quy định.", 30),
             ("{iss} thông báo để các cơ quan, đơn vị biết và thực hiện.", 20)]


def _pick(rng, weighted):
    return corpus._pick(rng, weighted)


def _name(rng):
    return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"



def default_dir(documents: int) -> Path:
    return CACHE_ROOT / f"docs-{documents}"


def is_cached(data_dir: Path, params: dict) -> bool:
    marker = data_dir / "bench.json"
    if not marker.exists() or not (data_dir / "vanban.db").exists():
        return False
    return json.loads(marker.read_text())["params"] == params


# ---------------------------------------------------------------- people, through the real use cases
def seed_people(data_dir: Path, rng: random.Random) -> dict:
    """Agency, departments and users via core functions (real argon2id). Returns ids and logins."""
    from vanban.clock import SystemClock
    from vanban.core import accounts, agencies
    from vanban.models import database
    from vanban.models.schema import Register
    from vanban.runtime import build_context
    from vanban.settings import load_settings

    settings = load_settings(environ={}, data_dir=str(data_dir), clamd_socket="", antivirus_required=False,
                             jobs_immediate=True)
    ctx = build_context(settings, clock=SystemClock())
    now = ctx.clock.now() - timedelta(days=YEARS * 365 + 30)
    agency = agencies.create_agency(now, None, code="H19.42", name="UBND huyện Nhơn Trạch", abbreviation="UBND",
                                    old_code="000.00.42.H19", parent_code="H19")
    password = "bench-" + os.urandom(6).hex()
    people = {"leaders": [], "clerks": [], "depts": {}, "logins": {}, "agency_id": agency.id}

    def user(username, full_name, roles, dept=None, position=""):
        u = accounts.create_user(now, None, agency, username=username, full_name=full_name, password=password,
                                 roles=roles, department=dept, position=position)
        people["logins"][username] = password
        return u.id

    vp = None
    for name, abbr, n_spec, share in DEPARTMENTS:
        dept = agencies.create_department(now, None, agency, name=name, abbreviation=abbr)
        vp = vp or dept
        slug = abbr.lower()
        head = user(f"tp.{slug}", _name(rng), "unit_head", dept, f"Trưởng {name}")
        staff = [user(f"cv{i}.{slug}", _name(rng), "specialist", dept, "Chuyên viên") for i in range(1, n_spec + 1)]
        people["depts"][dept.id] = {"abbr": abbr, "head": head, "staff": staff, "share": share}
    user("quantri", "Trần Minh Quân", "admin", vp, "Quản trị hệ thống")
    people["clerks"] = [user("vanthu", "Nguyễn Thị Thu", "clerk", vp, "Văn thư"),
                        user("vanthu2", "Lê Thị Hồng", "clerk", vp, "Văn thư")]
    people["leaders"] = [user("chutich", "Lê Văn Hùng", "leader", None, "Chủ tịch UBND huyện")] + [
        user(f"pct{i}", _name(rng), "leader", None, "Phó Chủ tịch UBND huyện") for i in (1, 2, 3)]
    regs = {r.confidential: r.id for r in Register.select().where(
        (Register.agency == agency.id) & (Register.kind == "incoming"))}
    people["register"], people["secret_register"] = regs[False], regs[True]
    people["blobs"] = _blobs(ctx, now)
    database.close()
    return people


def _blobs(ctx, now) -> list[tuple[str, int]]:
    """A handful of real PDFs in the blob store; attachments share them (content addressing)."""
    from vanban.demo import _pdfs
    from vanban.models.schema import Blob

    out = []
    texts = [f"UBND tỉnh Đồng Nai\nSố: {100 + i}/UBND-KTN\n\n{corpus.subject(random.Random(i), 'CV')}"
             for i in range(12)]
    for data in _pdfs(texts):
        staged = ctx.blobs.stage_bytes(data)
        sha, size = staged.sha256, staged.size
        ctx.blobs.commit(staged)
        Blob.insert(sha256=sha, size=size, created_at=now.replace(tzinfo=None)).on_conflict_ignore().execute()
        out.append((sha, size))
    return out


# ---------------------------------------------------------------- documents and their routing
def working_days(end: date, years: int) -> list[date]:
    start = end - timedelta(days=365 * years)
    days, d = [], start
    while d < end:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def _ts(dt: datetime) -> str:
    return dt.isoformat(" ")  # peewee's DateTimeField text; times here carry whole seconds


# fold() is per character, so fold(a + b) == fold(a) + fold(b): the few distinct pieces (subjects, issuers,
# templates) are folded once and composed, which is what keeps generation within minutes.
cfold = functools.lru_cache(maxsize=200_000)(fold)


class Builder:
    """Builds the rows of one document at a time; ids are handed out here so parents can be referenced."""

    def __init__(self, rng, people, today):
        self.rng, self.p, self.today = rng, people, today
        self.doc_id = self.ass_id = self.ev_id = self.att_id = 0
        self.counters: dict = {}
        self.docs, self.asss, self.evs, self.atts, self.fts = [], [], [], [], []
        depts = list(people["depts"].items())
        self.dept_ids = [d for d, _ in depts]
        self.dept_weights = [info["share"] for _, info in depts]
        self.vp_staff = next(i["staff"] for i in people["depts"].values() if i["abbr"] == "VP")

    def flush(self):
        out = (self.docs, self.asss, self.evs, self.atts, self.fts)
        self.docs, self.asss, self.evs, self.atts, self.fts = [], [], [], [], []
        return out

    def _assignment(self, doc_id, parent, assigner, assignee, dept, role, instruction, deadline, created,
                    done_at):
        self.ass_id += 1
        status = "done" if done_at else ("in_progress" if self.rng.random() < 0.5 else "waiting")
        self.asss.append((self.ass_id, doc_id, parent, assigner, assignee, dept, role, instruction,
                          deadline.isoformat() if deadline else None, status, _ts(created),
                          _ts(done_at) if done_at else None))
        return self.ass_id

    def _event(self, doc_id, user, kind, text, at):
        self.ev_id += 1
        self.evs.append((self.ev_id, doc_id, user, kind, text, None, _ts(at)))

    def _open_probability(self, age_days):
        if age_days <= 3:
            return 0.8
        if age_days <= 30:
            return 0.03
        return 0.0008  # stuck: these become the overdue items of the inbox

    def document(self, day: date, minute: float):
        rng, p = self.rng, self.p
        f = corpus.document(rng, TYPE_ABBREV)
        self.doc_id += 1
        doc_id = self.doc_id
        arrival = datetime(day.year, day.month, day.day, 7, 30) + timedelta(seconds=int(minute * 60))
        secret = rng.random() < 0.005
        register = p["secret_register"] if secret else p["register"]
        key = (register, day.year)
        self.counters[key] = number = self.counters.get(key, 0) + 1
        clerk = rng.choice(p["clerks"])
        doc_date = day - timedelta(days=rng.randint(0, 6))
        deadline = day + timedelta(days=rng.choice([5, 7, 10, 15, 30])) if rng.random() < 0.7 else None
        electronic = rng.random() < 0.9
        age = (self.today - day).days
        stage = "routed"
        if age <= 1:
            stage = _pick(rng, [("registered", 30), ("presented", 20), ("routed", 50)])
        is_open = stage != "routed" or rng.random() < self._open_probability(age)
        # the routing, as the use cases would have written it
        leader = rng.choice(p["leaders"])
        t = arrival + timedelta(minutes=rng.randint(20, 180))
        closed_at = None
        if stage != "registered":
            present = self._assignment(doc_id, None, clerk, leader, None, "present", "", deadline, arrival,
                                       t if stage == "routed" else None)
        if stage == "routed":
            closed_at = self._route(doc_id, present, leader, deadline, t, is_open)
        status = {"registered": "registered", "presented": "presented"}.get(stage) or (
            "in_progress" if closed_at is None else "done")
        subject = f["subject"]
        self.docs.append((doc_id, p["agency_id"], "in", register, day.year, number, _ts(arrival), f["issuer_name"],
                          f["issuer_code"], f["number"], f["notation"], doc_date.isoformat(), f["doc_type"], subject,
                          f["urgency"], 1 if secret else 0, deadline.isoformat() if deadline else None,
                          "electronic" if electronic else "paper", status, clerk, _ts(arrival),
                          _ts(closed_at) if closed_at else None, ""))
        body = ""
        if electronic:
            sha, size = rng.choice(p["blobs"])
            self.att_id += 1
            self.atts.append((self.att_id, doc_id, sha, f"{f['notation'].replace('/', '-')}-{f['number']}.pdf",
                              "application/pdf", size, clerk, _ts(arrival), "done"))
            body = self._body(f, day, deadline, cfold)
        scope = scope_tokens(SimpleNamespace(agency_id=p["agency_id"], doc_type=f["doc_type"],
                                             register_id=register, confidentiality=1 if secret else 0,
                                             direction="in"))
        self.fts.append((doc_id, cfold(subject), f["number"] + "/" + cfold(f["notation"]), cfold(f["issuer_name"]),
                         body, scope))

    def _route(self, doc_id, present, leader, deadline, t, is_open):
        """Leader → lead unit (+ co-units, readers) → unit head → specialist. Returns closed_at or None."""
        rng, p = self.rng, self.p
        instr = rng.choice(INSTRUCTIONS)
        depts = rng.choices(self.dept_ids, weights=self.dept_weights, k=3)
        lead_dept = depts[0]
        info = p["depts"][lead_dept]
        handled_by = rng.choice(info["staff"])
        span = max(1, (deadline - t.date()).days if deadline else 10)
        done_at = None if is_open else t + timedelta(days=rng.randint(1, span + 3), hours=rng.randint(0, 6))
        t1 = t + timedelta(minutes=rng.randint(30, 600))
        lead = self._assignment(doc_id, present, leader, None, lead_dept, "lead", instr, deadline, t, done_at)
        n_co = _pick(rng, [(0, 45), (1, 40), (2, 15)])
        for co_dept in {d for d in depts[1:1 + n_co] if d != lead_dept}:
            co_info = p["depts"][co_dept]
            co_done = None if is_open else t + timedelta(days=rng.randint(1, span + 1))
            co = self._assignment(doc_id, present, leader, None, co_dept, "co", instr, deadline, t, co_done)
            if rng.random() < 0.5:
                self._assignment(doc_id, co, co_info["head"], rng.choice(co_info["staff"]), None, "co", "",
                                 deadline, t1, co_done)
        if rng.random() < 0.4:
            reader = rng.choice(self.vp_staff)
            self._assignment(doc_id, present, leader, reader, None, "info", instr, None, t,
                             None if is_open else t1 + timedelta(hours=rng.randint(1, 48)))
        if rng.random() < 0.9:  # the unit head hands the lead to a specialist; else handles it himself
            self._assignment(doc_id, lead, info["head"], handled_by, None, "lead", "Giao chuyên viên xử lý.",
                             deadline, t1, done_at)
        else:
            handled_by = info["head"]
        if rng.random() < 0.5:
            self._event(doc_id, handled_by, "comment", rng.choice(COMMENTS), t1 + timedelta(hours=20))
        if done_at:
            self._event(doc_id, handled_by, "done", rng.choice(DONE_NOTES), done_at)
        return done_at

    def _body(self, f, day, deadline, fold=fold):
        """The attachment's extracted text; with fold=cfold it comes out folded, piece by piece."""
        rng = self.rng
        dl = deadline or day
        vals = {"n": rng.randint(1, 3000), "nt": fold(rng.choice(corpus.ISSUERS)[2]),
                "d": f"{day.day:02}/{day.month:02}/{day.year}", "iss": fold(f["issuer_name"]),
                "topic": fold(_pick(rng, corpus.TOPICS)), "act": fold(_pick(rng, corpus.ACTIONS)),
                "dl": f"{dl.day:02}/{dl.month:02}/{dl.year}"}
        lead = fold(_pick(rng, BODY_LEADS)).format(**vals)
        ask = fold(_pick(rng, BODY_ASKS)).format(**vals)
        return (f"{vals['iss']}\n{fold('Số')}: {f['number']}/{fold(f['notation'])}\n{fold(TYPE_NAMES[f['doc_type']])}\n"
                f"{fold(f['subject'])}\n{lead}\n{ask}\n{fold('Nơi nhận: Như trên; Lưu: VT.')}")


# ---------------------------------------------------------------- bulk writing
SQL = {
    "document": "INSERT INTO document VALUES (" + ",".join("?" * 23) + ")",
    "assignment": "INSERT INTO assignment VALUES (" + ",".join("?" * 12) + ")",
    "event": "INSERT INTO event VALUES (?,?,?,?,?,?,?)",
    "attachment": "INSERT INTO attachment VALUES (?,?,?,?,?,?,?,?,?)",
    "fts": "INSERT INTO document_fts(rowid, subject, notation, issuer, body, scope) VALUES (?,?,?,?,?,?)",
}
BULK_TABLES = ("document", "assignment", "event", "attachment")


def bulk_connection(db: Path) -> sqlite3.Connection:
    con = sqlite3.connect(db, isolation_level=None)
    # generation only (see the module docstring): no journal, no fsync, a large cache
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")
    con.execute("PRAGMA temp_store=MEMORY")
    con.execute("PRAGMA foreign_keys=OFF")
    return con


def drop_indexes(con) -> list[str]:
    rows = con.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL AND tbl_name IN "
                       f"({','.join('?' * len(BULK_TABLES))})", BULK_TABLES).fetchall()
    for name, _ in rows:
        con.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def generate_documents(db: Path, people: dict, documents: int, seed: int) -> dict:
    rng = random.Random(seed)
    today = date.today()
    days = working_days(today, YEARS)
    per_day = documents / len(days)
    builder = Builder(rng, people, today)
    con = bulk_connection(db)
    index_sql = drop_indexes(con)
    con.execute("INSERT INTO document_fts(document_fts, rank) VALUES ('automerge', 0)")
    t0 = time.monotonic()
    for start in range(0, documents, BATCH):
        for i in range(start, min(start + BATCH, documents)):
            pos = i / per_day
            day = days[min(int(pos), len(days) - 1)]
            builder.document(day, (pos - int(pos)) * 570)  # 07:30 .. 17:00
        docs, asss, evs, atts, fts_rows = builder.flush()
        con.execute("BEGIN")
        con.executemany(SQL["document"], docs)
        con.executemany(SQL["assignment"], asss)
        con.executemany(SQL["event"], evs)
        con.executemany(SQL["attachment"], atts)
        con.executemany(SQL["fts"], fts_rows)
        con.execute("COMMIT")
        done = min(start + BATCH, documents)
        if done % (BATCH * 10) == 0 or done == documents:
            print(f"  {done:>9,} documents  {time.monotonic() - t0:6.0f} s", flush=True)
    con.execute("BEGIN")
    con.executemany("INSERT INTO counter(register_id, year, sequence, last) VALUES (?, ?, '', ?)",
                    [(reg, year, last) for (reg, year), last in builder.counters.items()])
    con.execute("COMMIT")
    t1 = time.monotonic()
    for sql in index_sql:
        con.execute(sql)
    print(f"  indexes rebuilt in {time.monotonic() - t1:.0f} s", flush=True)
    t1 = time.monotonic()
    con.execute("INSERT INTO document_fts(document_fts, rank) VALUES ('automerge', 4)")  # FTS5's default again
    con.execute("INSERT INTO document_fts(document_fts) VALUES ('optimize')")
    print(f"  FTS optimize in {time.monotonic() - t1:.0f} s", flush=True)
    t1 = time.monotonic()
    con.execute("ANALYZE")
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    print(f"  ANALYZE in {time.monotonic() - t1:.0f} s", flush=True)
    return {"assignments": builder.ass_id, "events": builder.ev_id, "attachments": builder.att_id}


def inbox_stats(db: Path, username: str) -> dict:
    con = sqlite3.connect(db)
    uid = con.execute("SELECT id FROM user WHERE username = ?", (username,)).fetchone()[0]
    q = "SELECT count(*) FROM assignment WHERE assignee_id = ? AND "
    today = date.today().isoformat()
    out = {"open": con.execute(q + "status != 'done' AND role != 'info'", (uid,)).fetchone()[0],
           "overdue": con.execute(q + "status != 'done' AND role != 'info' AND deadline < ?", (uid, today)).fetchone()[0],
           "done": con.execute(q + "status = 'done'", (uid,)).fetchone()[0]}
    con.close()
    return out


def build(data_dir: Path, documents: int, seed: int = 20261121, *, force: bool = False) -> Path:
    params = {"documents": documents, "seed": seed, "years": YEARS, "generator": GEN_VERSION}
    if not force and is_cached(data_dir, params):
        print(f"reusing {data_dir} ({documents:,} documents)")
        return data_dir
    if data_dir.exists():
        shutil.rmtree(data_dir)
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "vanban.cli", "--data", str(data_dir), "init"], check=True)
    people = seed_people(data_dir, random.Random(seed))
    print(f"seeded {len(people['logins'])} users in {time.monotonic() - t0:.0f} s", flush=True)
    counts = generate_documents(data_dir / "vanban.db", people, documents, seed)
    elapsed = time.monotonic() - t0
    size = (data_dir / "vanban.db").stat().st_size
    stats = inbox_stats(data_dir / "vanban.db", BENCH_SPECIALIST)
    (data_dir / "bench-logins.json").write_text(json.dumps(people["logins"], indent=1))
    (data_dir / "bench.json").write_text(json.dumps({
        "params": params, "seconds": round(elapsed), "db_bytes": size, **counts,
        "bench_users": {"clerk": "vanthu", "specialist": BENCH_SPECIALIST, "leader": "chutich",
                        "unit_head": "tp.tnmt"}, "specialist_inbox": stats}, indent=1))
    print(f"generated {documents:,} documents ({counts['assignments']:,} assignments, {counts['events']:,} events, "
          f"{counts['attachments']:,} attachments) in {elapsed / 60:.1f} min; vanban.db {size / 2**30:.2f} GiB; "
          f"{BENCH_SPECIALIST}: {stats}")
    return data_dir


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_dir", nargs="?", help="default: /var/tmp/vanban-bench/docs-<N>")
    ap.add_argument("--documents", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--force", action="store_true", help="rebuild even when a matching store exists")
    args = ap.parse_args(argv)
    build(Path(args.data_dir) if args.data_dir else default_dir(args.documents), args.documents, args.seed,
          force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
