"""A clerk registers incoming documents: numbering, duplicates, attachments, refusals that change nothing."""
from __future__ import annotations

from datetime import datetime

from clamd import EICAR
from conftest import incoming_fields, make_pdf, multipart
from vanban.clock import VN


def register(client, headers, world, files=None, **over):
    files = [("files", "qd-125.pdf", make_pdf("Quyết định giao đất"), "application/pdf")] if files is None else files
    body, ctype = multipart(incoming_fields(world, **over), files)
    return client.simulate_post("/api/v1/documents", body=body, headers={**headers, "Content-Type": ctype})


def counts(data_dir):
    import sqlite3

    con = sqlite3.connect(data_dir / "vanban.db")
    try:
        docs = con.execute("SELECT count(*) FROM document").fetchone()[0]
        atts = con.execute("SELECT count(*) FROM attachment").fetchone()[0]
    finally:
        con.close()
    blobs = [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]
    tmp = [p for p in (data_dir / "tmp").rglob("*") if p.is_file()] if (data_dir / "tmp").exists() else []
    return docs, atts, len(blobs), len(tmp)


def test_clerk_registers_with_next_arrival_number(client, world, data_dir):
    h = client.api_login("clerk")
    first = register(client, h, world)
    assert first.status_code == 201, first.text
    doc = first.json
    assert doc["arrival_number"] == 1 and doc["year"] == 2026
    assert doc["number_notation"] == "125/UBND-VX" and doc["status"] == "registered"
    assert doc["attachments"][0]["filename"] == "qd-125.pdf"
    second = register(client, h, world, number_notation="126/UBND-VX")
    assert second.json["arrival_number"] == 2
    assert counts(data_dir)[:3] == (2, 2, 1)  # the same file twice is stored once (content-addressed)


def test_numbering_restarts_on_first_of_january(client, world, clock):
    clock.set(datetime(2026, 12, 31, 16, 0, tzinfo=VN))
    h = client.api_login("clerk")
    assert register(client, h, world, number_notation="1/UBND-VX").json["arrival_number"] == 1
    assert register(client, h, world, number_notation="2/UBND-VX").json["arrival_number"] == 2
    clock.set(datetime(2027, 1, 1, 1, 0, tzinfo=VN))  # the same session, nine hours later
    doc = register(client, h, world, number_notation="3/UBND-VX").json
    assert (doc["year"], doc["arrival_number"]) == (2027, 1)


def test_duplicate_is_warned_then_accepted_on_confirmation(client, world):
    h = client.api_login("clerk")
    assert register(client, h, world).status_code == 201
    dup = register(client, h, world, issuer_name="ubnd tinh dong nai")  # same issuer typed without diacritics
    assert dup.status_code == 409 and dup.json["error"]["code"] == "duplicate"
    assert "số đến 1" in dup.json["error"]["message"]
    ok = register(client, h, world, confirm_duplicate="1")
    assert ok.status_code == 201 and ok.json["arrival_number"] == 2
    # a different year of the same number and notation is not a duplicate
    assert register(client, h, world, doc_date="2025-12-30").status_code == 201


def test_leading_zero_numbers_match_for_duplicates(client, world):
    h = client.api_login("clerk")
    assert register(client, h, world, number_notation="5/UBND-VX").json["number"] == "05"
    assert register(client, h, world, number_notation="05/UBND-VX").status_code == 409


def test_register_from_the_web_form(client, world):
    b = client.web_login("clerk")
    body, ctype = multipart({"csrf_token": b.csrf, **incoming_fields(world)},
                            [("files", "scan.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")])
    r = client.simulate_post("/documents", body=body, headers={**b.headers, "Content-Type": ctype})
    assert r.status_code == 303
    page = b.get(r.headers["location"].split("?")[0])
    assert "Quyết định về việc giao đất đai" in page.text and "scan.png" in page.text


REFUSALS = [
    ({"issuer_name": ""}, 422, "missing:issuer_name"),
    ({"doc_date": "2026-02-30"}, 422, "bad_date:doc_date"),
    ({"doc_date": "2026-04-01"}, 422, "bad_date:doc_date"),  # after today (the fixed clock)
    ({"number_notation": "125/UBND VX"}, 422, "invalid:number_notation"),
    ({"number_notation": "UBND-VX"}, 422, "invalid:number_notation"),
    ({"doc_type": "XYZ"}, 422, "invalid:doc_type"),
    ({"urgency": "9"}, 422, "invalid:urgency"),
    ({"register_id": "999"}, 422, "invalid:register_id"),
    ({"deadline": "2026-01-01"}, 422, "bad_date:deadline"),
    ({"subject": "x" * 501}, 422, "too_long:subject"),
]


def test_bad_fields_are_refused_and_change_nothing(client, world, data_dir):
    h = client.api_login("clerk")
    before = counts(data_dir)
    for over, status, code in REFUSALS:
        r = register(client, h, world, **over)
        assert (r.status_code, r.json["error"]["code"]) == (status, code), (over, r.text)
        assert r.json["error"]["message"]
    assert counts(data_dir) == before


def test_bad_files_are_refused_and_leave_no_file(client, world, data_dir):
    h = client.api_login("clerk")
    before = counts(data_dir)
    cases = [
        ([("files", "hop-dong.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")], 422, "file_content_mismatch"),
        ([("files", "../../etc/passwd.pdf", make_pdf("x"), "application/pdf")], 422, "filename_invalid"),
        ([("files", "run.exe", b"MZ", "application/octet-stream")], 422, "file_type_not_allowed"),
        ([("files", "eicar.pdf", b"%PDF-1.4\n" + EICAR, "application/pdf")], 422, "file_infected"),
        ([("files", "fake.docx", b"PK\x03\x04 not a zip", "application/octet-stream")], 422, "file_content_mismatch"),
        ([], 422, "missing:files"),
    ]
    for files, status, code in cases:
        r = register(client, h, world, files=files)
        assert (r.status_code, r.json.get("error", {}).get("code")) == (status, code), (files[:1], r.text[:300])
    # a valid file next to a bad one: the whole registration is refused, the good file is not kept either
    r = register(client, h, world, files=[("files", "ok.pdf", make_pdf("tốt"), "application/pdf"),
                                          ("files", "bad.pdf", b"nope", "application/pdf")])
    assert r.status_code == 422
    assert counts(data_dir) == before
    assert list((data_dir / "quarantine").glob("*.bin")), "the infected upload is quarantined, not stored"


def test_oversized_upload_is_refused_before_reading(client, world):
    h = client.api_login("clerk")
    r = client.simulate_post("/api/v1/documents", body=b"x" * 10, headers={
        **h, "Content-Type": "multipart/form-data; boundary=abc", "Content-Length": str(2 * 1024 ** 3)})
    assert r.status_code == 413 and r.json["error"]["code"] == "request_too_large"


def test_upload_refused_when_antivirus_is_down(client, world, app):
    from vanban.antivirus import ClamdScanner

    app.ctx.scanner = ClamdScanner("/nonexistent/clamd.sock")
    r = register(client, client.api_login("clerk"), world)
    assert r.status_code == 422 and r.json["error"]["code"] == "antivirus_unavailable"


def test_only_clerks_register(client, world):
    r = register(client, client.api_login("spec"), world)
    assert r.status_code == 403 and r.json["error"]["code"] == "role_required"


def test_tmp_leftovers_are_swept(app, data_dir):
    import os
    import time

    (data_dir / "tmp").mkdir(exist_ok=True)
    old, fresh = data_dir / "tmp" / "up-old", data_dir / "tmp" / "up-fresh"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    assert app.ctx.blobs.sweep_tmp() == 1 and not old.exists() and fresh.exists()


def test_failed_registration_removes_its_new_blob_under_the_lock(world, data_dir, app, monkeypatch):
    """The new blob is gone before the write lock is released (no window for a concurrent same-content row).
    The failure is simulated inside the use case (a disk error cannot be caused on demand here)."""
    import io

    import pytest

    from vanban.core import incoming, indexing
    from vanban.models import database
    from vanban.models.schema import User

    seen = {}

    def boom(doc, body=""):
        seen["blobs_before_failure"] = [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]
        raise RuntimeError("disk trouble")

    monkeypatch.setattr(indexing, "index_document", boom)
    database.connect(reuse_if_open=True)
    clerk = User.get_by_id(world.users["clerk"])
    up = incoming.accept_upload(app.ctx, "a.pdf", io.BytesIO(make_pdf("x")), 10**7)
    with pytest.raises(RuntimeError):
        incoming.register_incoming(app.ctx, clerk, incoming_fields(world), [up])
    assert len(seen["blobs_before_failure"]) == 1
    assert counts(data_dir)[:3] == (0, 0, 0)
