"""/metrics: request counters by route template, business gauges from the database, build info."""
from __future__ import annotations


def test_metrics_expose_routes_and_business_gauges(client, world):
    h = client.api_login("clerk")
    client.simulate_get("/api/v1/inbox", headers=h)
    text = client.simulate_get("/metrics").text
    assert 'vanban_http_requests_total{method="GET",route="/api/v1/inbox",status="200"}' in text
    assert 'vanban_documents_pending{agency="H19.42"} 0.0' in text
    assert "vanban_build_info" in text and "vanban_http_request_duration_seconds_bucket" in text


def test_healthz(client):
    r = client.simulate_get("/healthz")
    assert r.status_code == 200 and r.json["db"] == "ok" and r.json["role"] == "node"


def test_outbox_gauges_are_exposed(client, world):
    text = client.simulate_get("/metrics").text
    assert 'vanban_outbox_depth{agency="H19.42"} 0.0' in text
    assert "vanban_outbox_oldest_age_seconds" in text
