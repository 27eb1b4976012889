"""Search: Vietnamese folding (tone marks and đ), notation, issuer, PDF text, filters, ranking, hostile queries."""
from __future__ import annotations

import pytest

from conftest import incoming_fields, make_pdf, multipart
from vanban.text import fold, words


def test_fold_removes_marks_and_d_bar():
    assert fold("Quyết định về đất đai tại Đồng Nai") == "quyet dinh ve dat dai tai dong nai"
    assert fold("ĐỒNG NAI") == "dong nai"
    assert words("125/UBND-VX") == ["125", "ubnd", "vx"]
    # decomposed input (some keyboards send NFD) folds the same way
    import unicodedata

    assert fold(unicodedata.normalize("NFD", "Đồng Nai")) == "dong nai"


@pytest.fixture
def corpus(client, world):
    h = client.api_login("clerk")
    docs = [
        ("125/UBND-VX", "UBND tỉnh Đồng Nai", "QD", "Quyết định về việc giao đất đai cho hộ gia đình tại Đồng Nai",
         "Nội dung thu hồi đất"),
        ("12/STNMT-QLĐĐ", "Sở Tài nguyên và Môi trường", "CV", "V/v rà soát hồ sơ địa chính", "mã số thửa đất 0815"),
        ("33/QĐ-UBND", "UBND tỉnh Bình Dương", "QD", "Quyết định phê duyệt kế hoạch đất đai năm 2026",
         "kế hoạch"),
        ("40/SNV-CCVC", "Sở Nội vụ", "CV", "V/v tuyển dụng viên chức năm 2026", "tuyển dụng"),
    ]
    ids = {}
    for i, (nn, issuer, typ, subject, text) in enumerate(docs):
        body, ctype = multipart(incoming_fields(world, number_notation=nn, issuer_name=issuer, doc_type=typ,
                                                subject=subject, doc_date=f"2026-03-0{i + 1}"),
                                [("files", f"vb{i}.pdf", make_pdf(f"{subject}\n{text}"), "application/pdf")])
        r = client.simulate_post("/api/v1/documents", body=body, headers={**h, "Content-Type": ctype})
        assert r.status_code == 201, r.text
        ids[nn] = r.json["id"]
    return h, ids


def found(client, h, q, **params):
    r = client.simulate_get("/api/v1/search", params={"q": q, **params}, headers=h)
    assert r.status_code == 200, r.text
    return [d["number_notation"] for d in r.json["documents"]]


def test_without_diacritics_and_d(client, corpus):
    h, _ = corpus
    assert found(client, h, "quyet dinh dat dai dong nai") == ["125/UBND-VX"]
    assert found(client, h, "Đồng Nai") == ["125/UBND-VX"]
    assert found(client, h, "DONG NAI") == ["125/UBND-VX"]


def test_by_notation_issuer_and_pdf_text(client, corpus):
    h, _ = corpus
    assert found(client, h, "125/UBND-VX") == ["125/UBND-VX"]
    assert found(client, h, "so noi vu") == ["40/SNV-CCVC"]
    assert found(client, h, "thua dat 0815") == ["12/STNMT-QLĐĐ"]  # only in the attached PDF


def test_ranking_prefers_subject_phrase(client, corpus):
    h, _ = corpus
    result = found(client, h, "dat dai")
    assert set(result) == {"125/UBND-VX", "33/QĐ-UBND"}
    assert found(client, h, '"ke hoach dat dai"')[0] == "33/QĐ-UBND"


def test_filters(client, corpus, world):
    h, _ = corpus
    assert found(client, h, "dat", type="CV") == ["12/STNMT-QLĐĐ"]
    assert set(found(client, h, "", type="QD")) == {"125/UBND-VX", "33/QĐ-UBND"}
    assert found(client, h, "nam 2026", status="registered", register=str(world.register_id))
    assert found(client, h, "dat dai", **{"from": "2026-03-11"}) == []  # all arrived on 10/03
    assert len(found(client, h, "", **{"from": "2026-03-10", "to": "2026-03-10"})) == 4


@pytest.mark.parametrize("q", ['"', 'dat AND', "NOT", "(dat", "dat*)", "subject:dat", "^", "NEAR(a b)", "' OR 1=1 --",
                               "đ" * 600, "\x00", "*"])
def test_hostile_queries_never_fail(client, corpus, q):
    h, _ = corpus
    r = client.simulate_get("/api/v1/search", params={"q": q}, headers=h)
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json["error"]["code"] == "too_long:q"


def test_bad_filters_are_refused(client, corpus):
    h, _ = corpus
    for params, code in [({"type": "DROP"}, "invalid:type"), ({"status": "x"}, "invalid:status"),
                         ({"from": "2026-13-01"}, "bad_date:from"), ({"from": "2026-03-10", "to": "2026-03-01"},
                                                                      "bad_date:range")]:
        r = client.simulate_get("/api/v1/search", params=params, headers=h)
        assert r.status_code == 422 and r.json["error"]["code"] == code, r.text


def test_other_agency_sees_nothing(client, corpus):
    h = client.api_login("otherclerk")
    assert found(client, h, "dat dai") == []


@pytest.mark.parametrize("candidates", [200, 2])
def test_count_leaves_out_what_the_user_may_not_see(data_dir, clamd, clock, world, candidates):
    """The count is the window of newest matches (WINDOW × candidates) less the confidential ones the user may not
    see: exact while the window holds every match, a lower bound shown as "Hơn …" once it is full."""
    from conftest import Client, make_settings
    from vanban.models import database
    from vanban.search import WINDOW
    from vanban.web.app import create_app

    client = Client(create_app(make_settings(data_dir, clamd_socket=str(clamd.socket), search_candidates=candidates),
                               clock=clock))
    try:
        clerk, spec = client.api_login("clerk"), client.api_login("spec")
        for i in range(11):
            body, ctype = multipart(incoming_fields(world, number_notation=f"{i + 1}/KK-UBND",
                                                    subject=f"Báo cáo kiểm kê kho lần {i + 1}", medium="paper"))
            assert client.simulate_post("/api/v1/documents", body=body,
                                        headers={**clerk, "Content-Type": ctype}).status_code == 201
        body, ctype = multipart(incoming_fields(world, number_notation="12/KK-UBND", confidentiality="1",
                                                register_id=str(world.secret_register_id),
                                                subject="Báo cáo kiểm kê kho vũ khí", medium="paper"))
        secret = client.simulate_post("/api/v1/documents", body=body, headers={**clerk, "Content-Type": ctype})
        assert secret.status_code == 201, secret.text

        def result(h):
            r = client.simulate_get("/api/v1/search", params={"q": "kiem ke kho"}, headers=h)
            assert r.status_code == 200, r.text
            return r.json["total"], r.json["total_capped"], {d["id"] for d in r.json["documents"]}

        full = WINDOW * candidates
        total, capped, ids = result(clerk)  # the clerk registered it, so sees it
        assert (total, capped) == ((full, True) if full < 12 else (12, False)) and secret.json["id"] in ids
        total, capped, ids = result(spec)
        assert (total, capped) == ((full - 1, True) if full < 12 else (11, False))
        assert secret.json["id"] not in ids
    finally:
        if not database.is_closed():
            database.close()
