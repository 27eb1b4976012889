"""The hub keeps an acknowledged message's bytes for hub_keep_acknowledged_days, `vanban hub redeliver` queues
again what a rebuilt node acknowledged after its snapshot, and the hourly sweep forgets old bytes without
removing a blob another row still needs (docs/rebuild.md). Hub and nodes are real processes on loopback with
mutual TLS (tests/exchange_lab.py); the sweep and the refusals run in-process on a real hub database."""
from __future__ import annotations

import datetime as dt

import pytest

from conftest import make_pdf
from exchange_lab import Lab, issue_outgoing, query


@pytest.fixture
def lab(tmp_path, template):
    lab = Lab(tmp_path / "lab", template[0])
    yield lab
    lab.close()


def test_acknowledged_package_comes_back_once_after_redeliver(lab):
    hub = lab.hub("hub", {"H19.42": ("UBND huyện Nhơn Trạch", "node1", "district"),
                          "H19.43": ("UBND huyện Long Thành", "node2", "district")})
    hub.start()
    node1, node2 = lab.node("node1", hub.url), lab.node("node2", hub.url)
    issue_outgoing(node1, to=["H19.43"], number="21", subject="Về việc sau sao lưu", pdf=make_pdf("CV 21"))
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    assert node1.cli_json("exchange", "push")["sent"] == 1
    assert node2.cli_json("exchange", "poll")["received"] == 1
    (sha,) = query(hub, "SELECT blob_sha FROM hub_message WHERE state = 'acked'")[0]
    assert (hub.data_dir / "blobs" / sha[:2] / sha[2:4] / sha).exists(), "the acknowledgement keeps the bytes"

    out = hub.cli_json("hub", "redeliver", "--node", "node2", "--since", since.isoformat())
    assert out["requeued"] == 1 and out["lost"] == [] and out["agencies"] == ["H19.43"]
    # The next poll fetches it again; the node's DocumentId + recipient key keeps one copy.
    assert node2.cli_json("exchange", "poll") == {"received": 0, "duplicate": 1, "refused": 0}
    assert query(node2, "SELECT count(*) FROM exchange_inbox WHERE kind = 'package'")[0][0] == 1
    assert query(hub, "SELECT state FROM hub_message") == [("acked",)]
    # By agency code, the same node; nothing after a later --since.
    later = dt.datetime.now(dt.timezone.utc).isoformat()
    assert hub.cli_json("hub", "redeliver", "--node", "H19.43", "--since", later)["requeued"] == 0

    # Bad input: a clear message, exit 2, nothing changed.
    for args, code in ((["--node", "node9", "--since", since.isoformat()], "node_unknown"),
                       (["--node", "node2", "--since", "hôm qua"], "since_invalid"),
                       (["--node", "node2", "--since", "2999-01-01T00:00:00+07:00"], "since_in_future")):
        r = hub.cli("hub", "redeliver", *args, check=False)
        assert r.returncode == 2 and f"[{code}]" in r.stderr and r.stdout == "", (args, r.stderr)
    assert query(hub, "SELECT state FROM hub_message") == [("acked",)]


@pytest.fixture
def hub_ctx(data_dir, clock):
    from conftest import make_settings
    from vanban.exchange import hub
    from vanban.web.app import create_app

    app = create_app(make_settings(data_dir, role="hub"), clock=clock)
    hub.add_agency("H19.42", "UBND huyện Nhơn Trạch", "node1")
    hub.add_agency("H19.42.01", "UBND xã Phú Hữu", "node1", level="commune")
    hub.add_agency("H19.43", "UBND huyện Long Thành", "node2")
    return app.ctx


def _message(ctx, i, data: bytes, recipient="H19.42", state="acked", done_days_ago=None):
    from vanban.models.exchange import HubMessage

    staged = ctx.blobs.stage_bytes(data)
    ctx.blobs.commit(staged)
    now = ctx.clock.local()
    return HubMessage.create(message_id=f"m{i:08d}", recipient=recipient, sender_node="node2", kind="package",
                             document_id=f"H19.43,2026/03/02,{i}/UBND", blob_sha=staged.sha256, size=staged.size,
                             state=state, received_at=now - dt.timedelta(days=40),
                             done_at=None if done_days_ago is None else now - dt.timedelta(days=done_days_ago))


def test_sweep_forgets_old_bytes_but_not_a_shared_blob(hub_ctx):
    from vanban.exchange import hub

    ctx = hub_ctx
    old = _message(ctx, 1, b"old package", done_days_ago=20)
    shared_old = _message(ctx, 2, b"same package to two agencies", done_days_ago=20)
    shared_recent = _message(ctx, 3, b"same package to two agencies", recipient="H19.42.01", done_days_ago=2)
    shared_queued_old = _message(ctx, 4, b"one still waiting", done_days_ago=20)
    _message(ctx, 5, b"one still waiting", recipient="H19.43", state="queued")
    recent = _message(ctx, 6, b"recent package", done_days_ago=1)
    out = hub.sweep_acknowledged(ctx.blobs, ctx.clock.now(), 14)
    assert out["removed"] == 1
    assert not ctx.blobs.exists(old.blob_sha)
    for row in (shared_old, shared_recent, shared_queued_old, recent):
        assert ctx.blobs.exists(row.blob_sha)
    assert hub.sweep_acknowledged(ctx.blobs, ctx.clock.now(), 14)["removed"] == 0

    # A redeliver over the whole period: what still has bytes is queued again, the swept one is listed lost.
    since = ctx.clock.now() - dt.timedelta(days=30)
    out = hub.redeliver(ctx.blobs, ctx.clock.now(), "node1", since.isoformat(), ctx.clock.tz)
    assert out["agencies"] == ["H19.42", "H19.42.01"]
    assert out["requeued"] == 4 and [x["message_id"] for x in out["lost"]] == ["m00000001"]
    assert [w.message_id for w in hub.waiting_for("node1")] == ["m00000002", "m00000003", "m00000004", "m00000006"]


def test_redeliver_refuses_bad_input_and_changes_nothing(hub_ctx):
    from vanban.errors import Invalid, NotFound
    from vanban.exchange import hub
    from vanban.models.exchange import HubMessage

    ctx = hub_ctx
    _message(ctx, 1, b"a package", done_days_ago=1)
    now = ctx.clock.now()
    since = (now - dt.timedelta(days=2)).isoformat()
    cases = ((NotFound, "node_unknown", "node9", since), (NotFound, "node_unknown", "H19.42,H19.43", since),
             (NotFound, "node_unknown", "", since), (Invalid, "since_invalid", "node1", "2026-13-40"),
             (Invalid, "since_in_future", "node1", (now + dt.timedelta(minutes=5)).isoformat()))
    for error, code, node, when in cases:
        with pytest.raises(error) as caught:
            hub.redeliver(ctx.blobs, now, node, when, ctx.clock.tz)
        assert caught.value.code == code
    assert [r.state for r in HubMessage.select()] == ["acked"]
    # A naive --since is the hub's local time; the agency code names its node.
    local = (ctx.clock.local() - dt.timedelta(days=2)).isoformat()
    assert hub.redeliver(ctx.blobs, now, "H19.42.01", local, ctx.clock.tz)["requeued"] == 1
    # A --since a little ahead of the hub's clock (the node's clock ran fast) is fine within the margin.
    ahead = (now + dt.timedelta(minutes=5)).isoformat()
    out = hub.redeliver(ctx.blobs, now, "node1", ahead, ctx.clock.tz, margin_minutes=30)
    assert out["since"] == (ctx.clock.local() - dt.timedelta(minutes=25)).isoformat(timespec="seconds")
