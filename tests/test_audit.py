"""The audit log is a hash chain: `vanban audit verify` finds an edited or deleted entry."""
from __future__ import annotations

import sqlite3

from conftest import incoming_fields, make_pdf, multipart
from vanban.cli import main


def _activity(client, world):
    h = client.api_login("clerk")
    for n in range(3):
        body, ctype = multipart(incoming_fields(world, number_notation=f"{n + 1}/UBND-VP"),
                                [("files", "a.pdf", make_pdf(f"văn bản {n}"), "application/pdf")])
        assert client.simulate_post("/api/v1/documents", body=body, headers={**h, "Content-Type": ctype}).status_code == 201


def _verify(data_dir, capsys):
    code = main(["--data", str(data_dir), "audit", "verify"])
    return code, capsys.readouterr().out


def test_intact_chain_verifies(client, world, data_dir, capsys):
    _activity(client, world)
    code, out = _verify(data_dir, capsys)
    assert code == 0 and "intact" in out


def test_edit_is_detected(client, world, data_dir, capsys):
    _activity(client, world)
    con = sqlite3.connect(data_dir / "vanban.db")
    con.execute("UPDATE audit_entry SET username = 'someone' WHERE action = 'incoming.register' AND id = "
                "(SELECT min(id) FROM audit_entry WHERE action = 'incoming.register')")
    con.commit()
    con.close()
    code, out = _verify(data_dir, capsys)
    assert code == 1 and "content changed" in out


def test_deletion_is_detected(client, world, data_dir, capsys):
    _activity(client, world)
    con = sqlite3.connect(data_dir / "vanban.db")
    con.execute("DELETE FROM audit_entry WHERE id = (SELECT max(id) - 1 FROM audit_entry)")
    con.commit()
    con.close()
    code, out = _verify(data_dir, capsys)
    assert code == 1 and "missing" in out


def test_rewritten_chain_after_deletion_is_detected(client, world, data_dir, capsys):
    """Deleting an entry and renumbering the ids still breaks the prev-hash link of the next entry."""
    _activity(client, world)
    con = sqlite3.connect(data_dir / "vanban.db")
    target = con.execute("SELECT max(id) - 2 FROM audit_entry").fetchone()[0]
    con.execute("DELETE FROM audit_entry WHERE id = ?", (target,))
    con.execute("UPDATE audit_entry SET id = id - 1 WHERE id > ?", (target,))
    con.commit()
    con.close()
    code, out = _verify(data_dir, capsys)
    assert code == 1 and "does not follow" in out
