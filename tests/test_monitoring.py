"""monitoring/: Prometheus configs, alert and recording rules, Alertmanager, Grafana dashboards.

Real tools only: promtool (check config, check rules, test rules) and amtool (check-config, routes,
template render) from the Debian packages the Makefile installs. Plus static checks an operator would
notice: every alert follows the naming and annotation conventions, has a runbook section and a promtool
case that shows it silent before its `for:` window and firing after, and every dashboard query only uses
metrics the app contract, the node exporter rules or the recording rules provide.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MON = ROOT / "monitoring"
RULES_DIR = MON / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TESTS = sorted((RULES_DIR / "tests").glob("*.test.yml"))
DASHBOARDS = sorted((MON / "grafana").glob("*.json"))
README = MON / "README.md"

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing: apt-get install prometheus (make debs installs it)")
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool missing: apt-get install prometheus-alertmanager (make debs installs it)")

# The metric contract of the app and its textfile writers (notes/contracts.md, vanban/metrics.py).
CONTRACT_METRICS = {
    "vanban_http_requests_total",
    "vanban_http_request_duration_seconds_bucket",
    "vanban_http_request_duration_seconds_sum",
    "vanban_http_request_duration_seconds_count",
    "vanban_build_info",
    "vanban_documents_pending",
    "vanban_documents_overdue",
    "vanban_outbox_depth",
    "vanban_outbox_oldest_age_seconds",
    "vanban_hub_queue_depth",
    "vanban_hub_queue_oldest_age_seconds",
    "vanban_audit_head_conflicts_open",
    "vanban_audit_head_witnessed_timestamp_seconds",
    "vanban_av_scans_total",
    "vanban_sqlite_integrity_ok",
    "vanban_backup_last_success_timestamp_seconds",
    "vanban_backup_last_duration_seconds",
    "vanban_restore_drill_last_run_timestamp_seconds",
    "vanban_restore_drill_success",
    "vanban_restore_drill_last_success_timestamp_seconds",
    "vanban_av_signature_timestamp_seconds",
    "vanban_tls_cert_expiry_timestamp_seconds",
    "vanban_tls_cert_readable",
    "vanban_sqlite_integrity_last_check_ok",
}
# Series Prometheus makes itself.
BUILTIN_METRICS = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}
SEVERITIES = {"critical", "warning", "none"}
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                   "group_left", "group_right", "inf", "nan", "atan2"}


def run(*cmd, cwd=None):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def all_rules():
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                yield path.name, rule


def alerts():
    return {rule["alert"]: rule for _, rule in all_rules() if "alert" in rule}


def recorded_names():
    return {rule["record"] for _, rule in all_rules() if "record" in rule}


def duration_seconds(text):
    """promtool/Prometheus durations as used here: 1h30m, 26h, 5m, 0s."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", str(text))
    assert parts and "".join(n + u for n, u in parts) == str(text), f"not a duration: {text!r}"
    return sum(int(n) * units[u] for n, u in parts)


def metric_names(expr):
    """Metric names an expression reads (rough PromQL lexing, good enough for our own expressions)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                 # label values, regexes
    s = re.sub(r"\$\{[^}]*\}|\$\w+", "", s)                        # Grafana variables
    s = re.sub(r"\{[^}]*\}", "", s)                                # label matchers
    s = re.sub(r"\[[^\]]*\]", "", s)                               # range selectors
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"(?<![\w:])\d+(\.\d+)?([eE][+-]?\d+)?", " ", s)    # numbers
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        if s[m.end():].lstrip().startswith("(") or m.group().lower() in PROMQL_KEYWORDS:
            continue  # a function or aggregation call, or an operator word
        names.add(m.group())
    return names


def test_metric_name_lexer():
    expr = ('sum without (route) (rate(vanban_http_requests_total{status=~"5..", route!="/x"}[5m])) '
            '/ on (instance) group_left (node_x) instance:foo:rate5m > 1e9 and abs(node_timex_offset_seconds) '
            '> 24 * 3600 or vector(0) + ${DS} $node')
    assert metric_names(expr) == {"vanban_http_requests_total", "instance:foo:rate5m", "node_timex_offset_seconds"}


def installed_tree(tmp_path):
    """The monitoring tree as the role installs it: example target files put in place under their real names."""
    tree = tmp_path / "vanban"
    shutil.copytree(MON, tree)
    for example in (tree / "file_sd").glob("*.example.json"):
        example.with_name(example.name.replace(".example", "")).write_text(example.read_text())
    return tree


# --- promtool -----------------------------------------------------------------------------------------

@needs_promtool
@pytest.mark.parametrize("config", ["node.yml", "hub.yml"])
def test_prometheus_config_is_valid_with_its_rules_and_targets(tmp_path, config):
    tree = installed_tree(tmp_path)
    result = run(PROMTOOL, "check", "config", str(tree / "prometheus" / config))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "WARNING" not in out, out  # every referenced file exists and parses (rules, file_sd targets)
    assert "rule files found" in out


@needs_promtool
def test_nat_agent_config_is_valid_in_agent_mode():
    result = run(PROMTOOL, "check", "config", "--agent", str(MON / "prometheus" / "hub-agent-remote-write.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_rule_files_are_valid():
    result = run(PROMTOOL, "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file):
    result = run(PROMTOOL, "test", "rules", test_file.name, cwd=test_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_file_is_loaded_by_a_config():
    loaded = set()
    for config in ("node.yml", "hub.yml"):
        base = MON / "prometheus"
        for pattern in load_yaml(base / config)["rule_files"]:
            loaded |= {p.resolve() for p in base.glob(pattern)}
    assert loaded == {p.resolve() for p in RULE_FILES}


def test_hub_federates_the_jobs_and_recording_rules_the_fleet_reads():
    hub = load_yaml(MON / "prometheus" / "hub.yml")
    fed = next(j for j in hub["scrape_configs"] if j["job_name"] == "vanban-federate")
    assert fed["metrics_path"] == "/federate" and fed["honor_labels"] is True
    selectors = fed["params"]["match[]"]
    assert '{job=~"vanban|node"}' in selectors and '{__name__="ALERTS"}' in selectors
    name_regex = next(re.search(r'__name__=~"([^"]+)"', s).group(1) for s in selectors if "__name__=~" in s)
    node_records = {r["record"] for _, r in all_rules() if "record" in r and not r["record"].startswith(
        ("province:", "node:"))}
    assert all(re.fullmatch(name_regex, name) for name in node_records)
    node = load_yaml(MON / "prometheus" / "node.yml")
    assert set(node["global"]["external_labels"]) == {"node", "province", "agencies"}
    assert {j["job_name"] for j in node["scrape_configs"]} >= {"vanban", "node"}


# --- conventions ----------------------------------------------------------------------------------------

def test_alerts_follow_the_conventions():
    readme = README.read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (\w+)\s*$", readme, re.M))
    found = alerts()
    assert len(found) >= 20
    for name, rule in found.items():
        assert re.fullmatch(r"Vanban[A-Z][A-Za-z0-9]+", name), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), name
        assert rule["annotations"]["runbook"] == f"monitoring/README.md#{name.lower()}", name
        assert name in headings, f"{name} has no '### {name}' runbook section in monitoring/README.md"
        assert duration_seconds(rule["for"]) > 0, f"{name}: every alert needs a for: window"


def test_recording_rules_are_named_level_metric_operations():
    for name in recorded_names():
        assert RECORD_NAME.match(name), name


def test_rules_read_only_known_metrics():
    known = CONTRACT_METRICS | BUILTIN_METRICS | recorded_names()
    for file_name, rule in all_rules():
        unknown = {m for m in metric_names(rule["expr"]) - known if not m.startswith("node_")}
        assert not unknown, f"{file_name}: {rule.get('alert') or rule.get('record')} reads {unknown}"


def _alert_cases():
    """{alertname: [(eval_seconds, firing?)]} from every promtool test group, per group."""
    cases = {}
    for path in RULE_TESTS:
        for group in load_yaml(path)["tests"]:
            per_group = {}
            for case in group.get("alert_rule_test", []):
                per_group.setdefault(case["alertname"], []).append(
                    (duration_seconds(case["eval_time"]), bool(case.get("exp_alerts"))))
            for name, evals in per_group.items():
                cases.setdefault(name, []).append(evals)
    return cases


def test_every_alert_has_a_silent_then_firing_case():
    cases = _alert_cases()
    for name, rule in alerts().items():
        window = duration_seconds(rule["for"])
        shown = any(
            silent_at < firing_at <= silent_at + window + 120
            for evals in cases.get(name, [])
            for silent_at, silent in evals if not silent
            for firing_at, firing in evals if firing
        )
        assert shown, f"{name}: no promtool case silent within its for: ({rule['for']}) window and firing after"


def test_firing_cases_check_annotations():
    for path in RULE_TESTS:
        for group in load_yaml(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                for alert in case.get("exp_alerts") or []:
                    assert {"summary", "description", "runbook"} <= set(alert.get("exp_annotations", {})), (
                        f"{path.name}: {case['alertname']} at {case['eval_time']}")
                    assert "severity" in alert["exp_labels"]


# --- Alertmanager ---------------------------------------------------------------------------------------

AM_CONFIG = MON / "alertmanager" / "alertmanager.yml"


@needs_amtool
def test_alertmanager_config_is_valid():
    result = run(AMTOOL, "check-config", str(AM_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


@needs_amtool
@pytest.mark.parametrize("labels, receiver", [
    (["alertname=VanbanWatchdog", "severity=none", "node=hn-bavi"], "deadmans-switch"),
    (["alertname=VanbanFleetWatchdog", "severity=none", "prometheus=fleet"], "deadmans-switch"),
    (["alertname=VanbanNodeDown", "severity=critical", "node=hn-bavi"], "ops-email-critical"),
    (["alertname=VanbanDiskWillFillIn24h", "severity=warning", "node=hn-bavi"], "ops-email"),
])
def test_alert_routing(labels, receiver):
    result = run(AMTOOL, "config", "routes", "test", f"--config.file={AM_CONFIG}", *labels)
    assert result.stdout.strip() == receiver, result.stdout + result.stderr


def test_alertmanager_groups_mail_and_keeps_secrets_out():
    config = load_yaml(AM_CONFIG)
    assert config["route"]["group_by"] == ["alertname", "province"]
    assert "smtp_auth_password" not in config["global"]  # a password file on the hub, if any
    assert config["global"]["smtp_smarthost"].endswith(".example.invalid:25")
    assert {r["name"] for r in config["receivers"]} == {"ops-email", "ops-email-critical", "deadmans-switch"}


@needs_amtool
def test_mail_template_renders_in_vietnamese_with_runbook_link(tmp_path):
    data = {
        "receiver": "ops-email", "status": "firing", "externalURL": "http://127.0.0.1:9093",
        "groupLabels": {"alertname": "VanbanBackupTooOld", "province": "hanoi"},
        "commonLabels": {"alertname": "VanbanBackupTooOld", "province": "hanoi", "severity": "critical"},
        "commonAnnotations": {},
        "alerts": [{
            "status": "firing", "startsAt": "2024-05-01T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "labels": {"alertname": "VanbanBackupTooOld", "node": "hn-bavi", "province": "hanoi",
                       "agencies": "ubnd-bavi", "severity": "critical", "repo": "local"},
            "annotations": {"summary": "Last successful backup to local is older than 26 hours",
                            "description": "d", "runbook": "monitoring/README.md#vanbanbackuptooold"}}],
    }
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(data))
    result = run(AMTOOL, "template", "render", f"--template.glob={MON / 'alertmanager/templates/*.tmpl'}",
                 f"--template.data={data_file}",
                 '--template.text={{ template "vanban.email.subject" . }}|{{ template "vanban.email.text" . }}')
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[CẢNH BÁO] VanbanBackupTooOld (hanoi): 1 đang xảy ra")
    assert "máy chủ hn-bavi (ubnd-bavi)" in result.stdout
    assert "monitoring/README.md#vanbanbackuptooold" in result.stdout


# --- Grafana --------------------------------------------------------------------------------------------

def _panels(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_dashboards_exist():
    assert {p.name for p in DASHBOARDS} >= {"vanban-fleet.json", "vanban-node.json"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_use_the_datasource_variable_and_known_metrics(path):
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    known = CONTRACT_METRICS | BUILTIN_METRICS | recorded_names() | {
        m for _, rule in all_rules() for m in metric_names(rule["expr"])}
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    exprs = 0
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
            unknown = metric_names(target["expr"]) - known
            assert not unknown, f"{path.name} / {panel['title']}: {unknown}"
            exprs += 1
    assert exprs >= 10
