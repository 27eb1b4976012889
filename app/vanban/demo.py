"""The seeded demo province: a district People's Committee, two communes on the same server, users for every
role and a few hundred realistic documents in every state of their routing. Built through the use cases
(registration, presentation, instructions, hand-overs), so the demo exercises the real code paths."""
from __future__ import annotations

import random
import secrets
from datetime import timedelta

from .clock import VN, FixedClock
from .core import accounts, agencies, incoming, routing
from .core.doctypes import TYPE_ABBREV
from .core.incoming import Upload
from .corpus import document

DEPARTMENTS = [("Văn phòng HĐND và UBND", "VP"), ("Phòng Tài nguyên và Môi trường", "TNMT"),
               ("Phòng Tài chính - Kế hoạch", "TCKH"), ("Phòng Nội vụ", "NV"), ("Phòng Văn hóa - Xã hội", "VX")]
DISTRICT_USERS = [  # username, full name, position, roles, department abbreviation
    ("quantri", "Trần Minh Quân", "Quản trị hệ thống", "admin", "VP"),
    ("vanthu", "Nguyễn Thị Thu", "Văn thư", "clerk", "VP"),
    ("chutich", "Lê Văn Hùng", "Chủ tịch UBND huyện", "leader", None),
    ("phochutich", "Phạm Thị Lan", "Phó Chủ tịch UBND huyện", "leader", None),
    ("tp.tnmt", "Võ Thanh Tùng", "Trưởng phòng TN&MT", "unit_head", "TNMT"),
    ("cv.tnmt", "Đặng Quốc Bảo", "Chuyên viên", "specialist", "TNMT"),
    ("cv2.tnmt", "Huỳnh Ngọc Mai", "Chuyên viên", "specialist", "TNMT"),
    ("tp.tckh", "Bùi Văn Tài", "Trưởng phòng TC-KH", "unit_head", "TCKH"),
    ("cv.tckh", "Đỗ Thị Hạnh", "Chuyên viên", "specialist", "TCKH"),
    ("tp.nv", "Ngô Văn Nam", "Trưởng phòng Nội vụ", "unit_head", "NV"),
    ("cv.nv", "Lý Thị Hoa", "Chuyên viên", "specialist", "NV"),
    ("tp.vx", "Trịnh Văn Sơn", "Trưởng phòng VH-XH", "unit_head", "VX"),
    ("cv.vp", "Mai Thị Kim", "Chuyên viên", "specialist", "VP"),
]
COMMUNES = [("H19.42.01", "UBND xã Phú Hữu", "phuhuu"), ("H19.42.02", "UBND xã Phước Thiền", "phuocthien")]


def _pdfs(texts: list[str]) -> list[bytes]:
    """One single-page PDF per text. Drawn as one document and split with pypdf: parsing and subsetting the
    TrueType font once instead of once per file makes seeding a few hundred documents take seconds."""
    import io

    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    from .reports import find_fonts

    pdf = FPDF(format="A4")
    pdf.add_font("Serif", "", find_fonts().regular)
    for text in texts:
        pdf.add_page()
        pdf.set_font("Serif", size=13)
        pdf.multi_cell(0, 7, text)
    reader = PdfReader(io.BytesIO(bytes(pdf.output())))
    out = []
    for page in reader.pages:
        writer = PdfWriter()
        writer.add_page(page)
        buf = io.BytesIO()
        writer.write(buf)
        out.append(buf.getvalue())
    return out


def seed(ctx, *, documents: int = 300, seed_value: int = 20261121) -> dict:
    """Create the demo province; returns {username: password}."""
    rng = random.Random(seed_value)
    real_clock = ctx.clock
    start = real_clock.now() - timedelta(days=120)
    clock = FixedClock(start.astimezone(VN).replace(hour=8, minute=0, second=0, microsecond=0))
    ctx.clock = clock
    try:
        logins = _people(ctx, clock)
        _documents(ctx, clock, rng, documents, real_clock.now())
    finally:
        ctx.clock = real_clock
    return logins


def _people(ctx, clock):
    now = clock.now()
    logins = {}
    district = agencies.create_agency(now, None, code="H19.42", name="UBND huyện Nhơn Trạch", abbreviation="UBND",
                                      old_code="000.00.42.H19", parent_code="H19")
    depts = {abbr: agencies.create_department(now, None, district, name=name, abbreviation=abbr)
             for name, abbr in DEPARTMENTS}
    for username, full_name, position, roles, dept in DISTRICT_USERS:
        password = secrets.token_urlsafe(9)
        accounts.create_user(now, None, district, username=username, full_name=full_name, password=password,
                             roles=roles, department=depts.get(dept), position=position)
        logins[username] = password
    for code, name, slug in COMMUNES:
        commune = agencies.create_agency(now, None, code=code, name=name, abbreviation="UBND", parent_code="H19.42")
        office = agencies.create_department(now, None, commune, name="Văn phòng - Thống kê", abbreviation="VP")
        for role, full in (("admin", "Quản trị xã"), ("clerk", "Văn thư xã"), ("leader", "Chủ tịch UBND xã"),
                           ("specialist", "Công chức địa chính")):
            password = secrets.token_urlsafe(9)
            accounts.create_user(now, None, commune, username=f"{role}.{slug}", full_name=f"{full} {name[8:]}",
                                 password=password, roles=role, department=office)
            logins[f"{role}.{slug}"] = password
    return logins


def _documents(ctx, clock, rng, count, real_now):
    from .models.schema import Register, User

    users = {u.username: u for u in User.select()}
    clerk, leaders = users["vanthu"], [users["chutich"], users["phochutich"]]
    register = Register.get((Register.agency == clerk.agency_id) & (Register.kind == "incoming") &
                            (Register.confidential == False))  # noqa: E712
    units = {"TNMT": ("tp.tnmt", ["cv.tnmt", "cv2.tnmt"]), "TCKH": ("tp.tckh", ["cv.tckh"]),
             "NV": ("tp.nv", ["cv.nv"])}
    span = (real_now - clock.now()).total_seconds()
    docs = [document(rng, TYPE_ABBREV) for _ in range(count)]
    pdfs = _pdfs([f"{f['issuer_name']}\nSố: {f['number']}/{f['notation']}\n\n{f['subject']}\n\nNội dung: đề nghị "
                  f"các đơn vị {f['subject'].lower()} theo đúng quy định." for f in docs])
    for i, (fields, pdf) in enumerate(zip(docs, pdfs, strict=True)):
        clock.set(real_now - timedelta(seconds=span * (1 - i / count)) - timedelta(hours=1))
        clock.set(clock.now().replace(hour=7 + i % 10))
        doc_date = clock.today() - timedelta(days=rng.randint(0, 5))
        deadline = clock.today() + timedelta(days=rng.choice([5, 7, 10, 15, 30])) if rng.random() < 0.7 else None
        data = {**fields, "register_id": register.id, "doc_date": doc_date.isoformat(),
                "number_notation": f"{fields['number']}/{fields['notation']}", "confirm_duplicate": "1",
                "deadline": deadline.isoformat() if deadline else "", "medium": "electronic"}
        upload = Upload(f"{fields['notation'].replace('/', '-')}-{fields['number']}.pdf", ctx.blobs.stage_bytes(pdf),
                        "application/pdf")
        doc = incoming.register_incoming(ctx, clerk, data, [upload])
        _route(ctx, clock, rng, doc, clerk, leaders, users, units, i / count)


def _route(ctx, clock, rng, doc, clerk, leaders, users, units, age):
    """Older documents are further along: most are done, recent ones wait for presentation or handling."""
    progress = rng.random() * (1.6 - age)
    if progress < 0.15:
        return
    leader = rng.choice(leaders)
    incoming.present(ctx, clerk, doc, leader.id)
    if progress < 0.3:
        return
    clock.advance(hours=2)
    unit = rng.choice(list(units))
    head, staff = units[unit]
    dept = users[head].department_id
    other = rng.choice([u for u in units if u != unit])
    routing.assign(ctx, leader, doc.id, instruction=rng.choice([
        "Giao phòng chủ trì tham mưu, báo cáo kết quả.", "Đề nghị xử lý theo quy định.",
        "Khẩn trương thực hiện, báo cáo UBND huyện trước thời hạn."]),
        lead={"to": f"dept:{dept}"}, co=[{"to": f"dept:{users[units[other][0]].department_id}"}],
        info=[{"to": f"user:{users['cv.vp'].id}"}])
    if progress < 0.55:
        return
    clock.advance(hours=3)
    specialist = users[rng.choice(staff)]
    routing.reassign(ctx, users[head], doc.id, instruction="Giao chuyên viên xử lý.",
                     lead={"to": f"user:{specialist.id}"})
    clock.advance(days=1)
    routing.comment(ctx, specialist, doc.id, "Đã kiểm tra hồ sơ, đang dự thảo văn bản trả lời.")
    if progress < 0.8:
        return
    clock.advance(days=rng.randint(1, 6))
    routing.complete(ctx, specialist, doc.id, "Đã tham mưu văn bản trả lời.")
