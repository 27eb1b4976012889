"""Exchange (liên thông) end to end and in pieces: a hub and two nodes as real gunicorn processes on loopback
with mutual TLS, real signed edXML packages, the clerk's web UI; plus the hub protocol, the node's receipt of
hostile packages, the workflow statuses and the provincial figures, in-process on real SQLite files."""
from __future__ import annotations

import pytest
import requests

from conftest import PASSWORD, make_pdf
from exchange_lab import Lab, WebUser, issue_outgoing, query


@pytest.fixture
def lab(tmp_path, template):
    lab = Lab(tmp_path / "lab", template[0])
    yield lab
    lab.close()


def province(lab, clamd=None):
    hub = lab.hub("hub", {"H19.42": ("UBND huyện Nhơn Trạch", "node1", "district"),
                          "H19.43": ("UBND huyện Long Thành", "node2", "district")})
    hub.start()
    node1 = lab.node("node1", hub.url)
    node2 = lab.node("node2", hub.url)
    return hub, node1, node2


def receipts(node):
    return {(r[0], r[1]): r[2] for r in query(node, "SELECT document_id, recipient, status_code FROM exchange_receipt")}


def test_two_nodes_exchange_signed_documents_through_the_hub(lab, clamd):
    hub, node1, node2 = province(lab)
    node2.start(clamd_socket=str(clamd.socket))
    doc_id = issue_outgoing(node1, to=["H19.43"], number="15", subject="Về việc phối hợp quản lý đất đai",
                            pdf=make_pdf("Công văn 15/UBND-VP"))
    assert node1.cli_json("exchange", "push") == {"sent": 1, "failed": 0, "retry": 0}
    assert node2.cli_json("exchange", "poll") == {"received": 1, "duplicate": 0, "refused": 0}
    # The package is acknowledged: the hub holds nothing more for node2.
    assert node2.cli_json("exchange", "poll")["received"] == 0
    # 01 (arrived) goes back automatically.
    assert node2.cli_json("exchange", "push")["sent"] == 1
    node1.cli_json("exchange", "poll")
    document_id = "H19.42,2026/03/10,15/UBND-VP"
    assert receipts(node1) == {(document_id, "H19.43"): "01"}

    # The clerk of the receiving agency checks the signatures and accepts it through the web UI.
    clerk = WebUser(node2, "otherclerk", PASSWORD)
    page = clerk.get("/exchange").text
    item = int(page.split('data-item="')[1].split('"')[0])
    detail = clerk.get(f"/exchange/inbox/{item}").text
    assert 'data-check="edxml"' in detail and "hợp lệ" in detail
    r = clerk.post(f"/exchange/inbox/{item}/accept", {})
    assert r.status_code == 303 and "/documents/" in r.headers["Location"], r.text[:500]
    registered = query(node2, "SELECT subject, number, notation, arrival_number, issuer_code FROM document "
                              "WHERE direction = 'in' AND agency_id = 2")
    assert registered == [("Về việc phối hợp quản lý đất đai", "15", "UBND-VP", 1, "H19.42")]
    assert query(node2, "SELECT count(*) FROM attachment a JOIN document d ON a.document_id = d.id "
                        "WHERE d.agency_id = 2")[0][0] == 1
    node2.cli_json("exchange", "push")
    node1.cli_json("exchange", "poll")
    assert receipts(node1) == {(document_id, "H19.43"): "03"}
    assert doc_id

    # The sender's exchange page shows the recipient's latest status.
    node1.start()
    sender = WebUser(node1, "clerk", PASSWORD)
    page = sender.get("/exchange").text
    assert 'data-recipient="H19.43" data-status="03"' in page


def test_hub_refuses_a_caller_without_a_certificate_of_the_province(lab):
    hub = lab.hub("hub", {"H19.42": ("UBND huyện Nhơn Trạch", "node1", "district")})
    hub.start()
    ca = str(hub.pki / "ca.crt")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{hub.url}/exchange/v1/messages", verify=ca, timeout=10)
    node1 = lab.node("node1", hub.url)
    r = requests.get(f"{hub.url}/exchange/v1/messages", verify=ca, timeout=10,
                     cert=(str(node1.pki / "tls.crt"), str(node1.pki / "tls.key")))
    assert r.status_code == 200 and r.json() == {"messages": []}
