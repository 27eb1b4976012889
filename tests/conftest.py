"""Fixtures: the real app on a fresh SQLite file per test, a fixed clock, a real clamd, real files."""
from __future__ import annotations

import io
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from falcon import testing

sys.path.insert(0, str(Path(__file__).parent))

from clamd import Clamd  # noqa: E402
from vanban.clock import VN, FixedClock  # noqa: E402
from vanban.settings import load_settings  # noqa: E402

PASSWORD = "mật-khẩu-thử-1"
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=VN)


@pytest.fixture(scope="session")
def clamd(tmp_path_factory):
    daemon = Clamd(tmp_path_factory.mktemp("clamd")).start()
    yield daemon
    daemon.stop()


def make_settings(data_dir, clamd_socket="", **extra):
    return load_settings(environ={}, data_dir=str(data_dir), jobs_immediate=True, cookie_secure=False,
                         clamd_socket=clamd_socket, **extra)


@dataclass
class World:
    """Ids of the seeded district: one People's Committee with two units, and a second agency."""

    agency_id: int
    other_agency_id: int
    register_id: int
    secret_register_id: int
    dept_tnmt: int
    dept_vp: int
    users: dict


def _seed(settings):
    from vanban.core import accounts, agencies
    from vanban.models import migrations
    from vanban.models.schema import Register
    from vanban.runtime import build_context

    ctx = build_context(settings, clock=FixedClock(T0))
    migrations.migrate(T0.replace(tzinfo=None))
    now = T0
    ag = agencies.create_agency(now, None, code="H19.42", name="UBND huyện Nhơn Trạch", abbreviation="UBND")
    other = agencies.create_agency(now, None, code="H19.43", name="UBND huyện Long Thành", abbreviation="UBND")
    tnmt = agencies.create_department(now, None, ag, name="Phòng Tài nguyên và Môi trường", abbreviation="TNMT")
    vp = agencies.create_department(now, None, ag, name="Văn phòng HĐND và UBND", abbreviation="VP")
    people = [("admin", "Quản Trị", "admin", vp, ag), ("clerk", "Nguyễn Thị Thu", "clerk", vp, ag),
              ("leader", "Lê Văn Hùng", "leader", None, ag), ("head", "Võ Thanh Tùng", "unit_head", tnmt, ag),
              ("spec", "Đặng Quốc Bảo", "specialist", tnmt, ag), ("spec2", "Huỳnh Ngọc Mai", "specialist", tnmt, ag),
              ("vpspec", "Mai Thị Kim", "specialist", vp, ag),
              ("otherclerk", "Trần Văn Khác", "clerk,leader,admin", None, other)]
    users = {}
    for username, name, roles, dept, agency in people:
        users[username] = accounts.create_user(now, None, agency, username=username, full_name=name,
                                               password=PASSWORD, roles=roles, department=dept).id
    reg = Register.get((Register.agency == ag) & (Register.kind == "incoming") & (Register.confidential == False))  # noqa: E712
    secret = Register.get((Register.agency == ag) & (Register.kind == "incoming") & (Register.confidential == True))  # noqa: E712
    ctx_db = ctx  # noqa: F841 - keeps the context alive until the checkpoint below
    from vanban.models import database

    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    return World(ag.id, other.id, reg.id, secret.id, tnmt.id, vp.id, users)


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    """The seeded database is built once (argon2 hashing is deliberately slow) and copied for each test."""
    root = tmp_path_factory.mktemp("template") / "data"
    world = _seed(make_settings(root))
    return root, world


@pytest.fixture
def clock():
    return FixedClock(T0)


@pytest.fixture
def data_dir(tmp_path, template):
    target = tmp_path / "data"
    shutil.copytree(template[0], target)
    return target


@pytest.fixture
def world(template):
    return template[1]


@pytest.fixture
def settings(data_dir, clamd):
    return make_settings(data_dir, clamd_socket=str(clamd.socket))


@pytest.fixture
def app(settings, clock):
    from vanban.models import database
    from vanban.web.app import create_app

    application = create_app(settings, clock=clock)
    yield application
    if not database.is_closed():
        database.close()


@pytest.fixture
def client(app):
    return Client(app)


class Client(testing.TestClient):
    """A test client that logs in through the API (bearer token) or the login form (cookie + CSRF)."""

    def api_login(self, username, password=PASSWORD) -> dict:
        r = self.simulate_post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json['token']}"}

    def web_login(self, username, password=PASSWORD) -> "Browser":
        r = self.simulate_post("/login", params={"x": "1"}, body=f"username={username}&password={password}",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 303, r.text
        token = r.cookies["vb_session"].value
        page = self.simulate_get("/inbox", headers={"Cookie": f"vb_session={token}"})
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        return Browser(self, token, csrf)


@dataclass
class Browser:
    client: Client
    token: str
    csrf: str

    @property
    def headers(self):
        return {"Cookie": f"vb_session={self.token}"}

    def get(self, path, **kw):
        return self.client.simulate_get(path, headers=self.headers, **kw)

    def post_form(self, path, fields: dict, *, csrf=True):
        from urllib.parse import urlencode

        pairs = [(k, v) for k, vals in fields.items() for v in (vals if isinstance(vals, list) else [vals])]
        if csrf:
            pairs.insert(0, ("csrf_token", self.csrf))
        return self.client.simulate_post(path, body=urlencode(pairs), headers={
            **self.headers, "Content-Type": "application/x-www-form-urlencoded"})


def multipart(fields: dict, files=()) -> tuple[bytes, str]:
    """Encode a multipart/form-data body; files are (field, filename, bytes, content type)."""
    boundary = "----vanbantestboundary7MA4YWxk"
    out = io.BytesIO()
    for name, value in fields.items():
        for v in value if isinstance(value, list) else [value]:
            out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{v}\r\n'.encode())
    for field, filename, data, ctype in files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                  f"Content-Type: {ctype}\r\n\r\n".encode())
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def make_pdf(text: str) -> bytes:
    from fpdf import FPDF

    from vanban.reports import find_fonts

    pdf = FPDF()
    pdf.set_creation_date(datetime(2026, 3, 1, tzinfo=VN))  # same text, same bytes: content addressing is tested
    pdf.add_page()
    pdf.add_font("Serif", "", find_fonts().regular)
    pdf.set_font("Serif", size=12)
    pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def incoming_fields(world, **over) -> dict:
    fields = {"register_id": str(world.register_id), "issuer_name": "UBND tỉnh Đồng Nai", "issuer_code": "H19",
              "number_notation": "125/UBND-VX", "doc_date": "2026-03-05", "doc_type": "QD",
              "subject": "Quyết định về việc giao đất đai cho hộ gia đình tại xã Phú Hữu, tỉnh Đồng Nai",
              "urgency": "0", "confidentiality": "0", "deadline": "2026-03-20", "medium": "electronic"}
    fields.update(over)
    return fields
