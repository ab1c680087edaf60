"""Injection (issue 8): every string option of every remote module, with hostile values.

Oracle per (module, option, value): the value arrives unchanged at the simulated cmdlet (``calls.jsonl``) or in
the Graph request the simulator received, or the module refuses it before any connection with a message that
names the option. Across every value the PowerShell sent is the same code: command line and the runner part of
standard input byte-identical, and the same tree-sitter parse shape.
"""

from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _runner_script
from ansible_collections.exchange.hybrid.plugins.modules import (
    exchange_auth_server,
    exchange_monitoring_probe,
    exchange_oauth_cert,
    exchange_setting_override,
    msol_sp_credential,
    push_proxy,
)
from defects import interpolating_runner
from safety_harness import drive, graph_args, winrm_args

FAMILY = "injection"

UNICODE_SINGLE = "\u2018\u2019\u201a\u201b"
UNICODE_DOUBLE = "\u201c\u201d\u201e"
CORPUS = {
    "single quote + statement": "x'; Remove-Item -Recurse -Force C:\\; '",
    "double quote + statement": 'x"; Stop-Computer -Force; "',
    "subexpression": "$(Stop-Computer -Force)",
    "array subexpression": "@(Get-Process | Stop-Process)",
    "env variable": "${env:USERPROFILE}${env:PATH}",
    "backticks": 'a`nb`"c`0d`$e',
    "CR": "before\rInvoke-Expression evil",
    "LF": "before\nInvoke-Expression evil",
    "NUL": "before\x00\x00\x00\x00after",
    "unicode single quotes": UNICODE_SINGLE.join(["", "; Stop-Computer; ", " x ", ""]),
    "unicode double quotes": UNICODE_DOUBLE.join(["", "; Stop-Computer; ", ""]) + "$(evil)",
    "100 KB": ("A'$(x)\u2019" * 12800)[: 100 * 1024],
    "non-ASCII name": "Zo\u00eb \u00d1and\u00fa \u6771\u4eac \u0417\u0435\u043c\u043b\u044f \U0001f600",
}

VALID_CERT = None


def _certificate() -> str:
    global VALID_CERT  # pylint: disable=global-statement
    if VALID_CERT is None:
        from hybrid_sim.entra import make_certificate

        VALID_CERT = make_certificate("Safety Injection").base64_der
    return VALID_CERT


# (module, option, base arguments, wrap(value) -> option value, graph?)
EXCHANGE_OPTIONS = [
    (exchange_auth_server, "name", {"tenant_domain": "contoso.onmicrosoft.com"}, None),
    (exchange_auth_server, "tenant_domain", {}, None),
    (exchange_auth_server, "auth_metadata_url", {"tenant_domain": "contoso.onmicrosoft.com"}, None),
    (exchange_auth_server, "auth_metadata_url", {"tenant_domain": "contoso.onmicrosoft.com"}, "url"),
    (
        exchange_auth_server,
        "application_identifier",
        {"tenant_domain": "contoso.onmicrosoft.com", "type": "azure_ad"},
        None,
    ),
    (exchange_auth_server, "domain_name", {"tenant_domain": "contoso.onmicrosoft.com", "type": "azure_ad"}, "list"),
    (exchange_oauth_cert, "friendly_name", {}, None),
    (exchange_oauth_cert, "domain_name", {}, None),
    (exchange_oauth_cert, "thumbprint", {}, None),
    (exchange_oauth_cert, "export_path", {}, None),
    (exchange_oauth_cert, "export_path", {}, "path"),
    (
        exchange_setting_override,
        "name",
        {"component": "Global", "section": "S", "parameters": ["Enabled=true"], "reason": "r"},
        None,
    ),
    (
        exchange_setting_override,
        "component",
        {"name": "N1", "section": "S", "parameters": ["Enabled=true"], "reason": "r"},
        None,
    ),
    (
        exchange_setting_override,
        "section",
        {"name": "N2", "component": "Global", "parameters": ["Enabled=true"], "reason": "r"},
        None,
    ),
    (
        exchange_setting_override,
        "parameters",
        {"name": "N3", "component": "Global", "section": "S", "reason": "r"},
        "kv",
    ),
    (
        exchange_setting_override,
        "reason",
        {"name": "N4", "component": "Global", "section": "S", "parameters": ["Enabled=true"]},
        None,
    ),
    (
        exchange_setting_override,
        "servers",
        {"name": "N5", "component": "Global", "section": "S", "parameters": ["Enabled=true"], "reason": "r"},
        "list",
    ),
    (push_proxy, "organization", {}, None),
    (push_proxy, "uri", {"organization": "contoso.onmicrosoft.com"}, None),
    (push_proxy, "uri", {"organization": "contoso.onmicrosoft.com"}, "url"),
    (
        exchange_monitoring_probe,
        "identity",
        {"restart_health_service": False, "timeout": 1, "poll_interval": 1, "fail_on_failure": False},
        "probe",
    ),
    (
        exchange_monitoring_probe,
        "target_server",
        {"restart_health_service": False, "timeout": 1, "poll_interval": 1, "fail_on_failure": False},
        None,
    ),
]
GRAPH_OPTIONS = [
    (msol_sp_credential, "display_name", {}, None),
    (msol_sp_credential, "thumbprint", {"state": "absent", "certificate": None}, None),
    (msol_sp_credential, "certificate", {}, None),
    (msol_sp_credential, "application_id", {"target": "hybrid_application"}, None),
    (
        msol_sp_credential,
        "application_display_name",
        {"target": "hybrid_application", "create_application": True},
        None,
    ),
    (
        msol_sp_credential,
        "exchange_organization_guid",
        {"target": "hybrid_application", "create_application": True},
        None,
    ),
]


def _wrap(kind, value):
    if kind == "list":
        return [value]
    if kind == "kv":
        return ["Key=" + value]
    if kind == "url":  # a valid URL around the value: the path part is free text
        return "https://outlook.office365.com/PushNotifications/" + value
    if kind == "path":  # a valid absolute Windows path around the value
        return "C:\\Certs\\" + value + ".cer"
    if kind == "probe":
        return "PushNotifications.Proxy\\" + value
    return value


def _arrived(sent, calls) -> bool:
    """The option's value (or each element of a list) equals a parameter value of an executed cmdlet."""
    wanted = sent if isinstance(sent, list) else [sent]
    seen = []
    for entry in calls:
        for value in (entry.get("parameters") or {}).values():
            seen.extend(value if isinstance(value, list) else [value])
    return all(any(isinstance(v, str) and v == w for v in seen) for w in wanted)


def _graph_arrived(sent, requests) -> bool:
    wanted = sent if isinstance(sent, list) else [sent]
    texts = []
    for entry in requests:
        texts.append(json.dumps(entry.get("body"), ensure_ascii=False))
        for value in (entry.get("query") or {}).values():
            texts.append(str(value).replace("''", "'"))
        texts.append(entry.get("path", ""))
    return all(any(json.dumps(w, ensure_ascii=False)[1:-1] in t or w in t for t in texts) for w in wanted)


def check_value(module, option, sent, outcome, graph=False):
    """The oracle for one run."""
    if outcome.failed and outcome.calls and all(c["cmdlet"].startswith("Get-") for c in outcome.calls):
        if not _arrived(sent, outcome.calls):
            # Refused after reading what it must check against (target_server must be a server of the org).
            assert option in outcome.msg, "refused after reading, without naming %s: %r" % (option, outcome.msg[:300])
            return "refused after read-only calls"
    if outcome.failed and not outcome.connected:
        assert option in outcome.msg, "refused before connecting but the message does not name %s: %r" % (
            option,
            outcome.msg[:300],
        )
        return "refused"
    if graph:
        assert _graph_arrived(sent, outcome.graph_requests), "%s=%r did not reach Graph unchanged (%r)" % (
            option,
            str(sent)[:80],
            outcome,
        )
    else:
        assert _arrived(sent, outcome.calls), "%s=%r did not reach a cmdlet unchanged (%r)" % (
            option,
            str(sent)[:80],
            outcome,
        )
    return "arrived"


def same_code(commands):
    """Every command line and every runner text is the project's, byte for byte, and parses to the same shape."""
    lines = {c.command_line for c in commands}
    runners = {_runner_script.split_stdin(c.stdin)[0] for c in commands}
    assert lines == {_runner_script.command_line()}, "the command line differs between values (%d forms)" % len(lines)
    assert runners == {_runner_script.RUNNER}, "the runner text differs between values (%d forms)" % len(runners)
    shapes = {parse_shape(_bootstrap(line)) for line in lines} | {("runner",) + parse_shape(r) for r in runners}
    assert len(shapes) == 2, "the PowerShell parse shape differs between values"


def _bootstrap(line: str) -> str:
    return base64.b64decode(line.rsplit(" ", 1)[-1]).decode("utf-16-le")


def parse_shape(text: str) -> tuple:
    """Node types of the tree-sitter-powershell parse (string contents ignored): the code's shape."""
    import ps_static_check  # tests/quality

    tree = ps_static_check._parser().parse(
        ps_static_check.normalise(text).encode("utf-8")
    )  # pylint: disable=protected-access
    shape = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        assert node.type != "ERROR", "the PowerShell text does not parse"
        shape.append(node.type)
        stack.extend(reversed(node.children))
    return tuple(shape)


@pytest.fixture(autouse=True, scope="module")
def _quality_path():
    import os
    import sys

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "quality")
    if path not in sys.path:
        sys.path.insert(0, path)


def _run_exchange(sim, module, option, base, kind, value):
    args = winrm_args(sim)
    args.update(base)
    sent = _wrap(kind, value)
    args[option] = sent
    return sent, drive(module, args, sim)


@pytest.mark.parametrize(
    "module,option,base,kind",
    EXCHANGE_OPTIONS,
    ids=["%s.%s%s" % (m.__name__.rsplit(".", 1)[-1], o, "(%s)" % k if k else "") for m, o, _b, k in EXCHANGE_OPTIONS],
)
def test_exchange_option_hostile_values(shared_sim, cases, module, option, base, kind):
    commands = []
    verdicts = {}
    for label, value in CORPUS.items():
        with cases.soft(
            "%s %s%s: %s" % (module.__name__.rsplit(".", 1)[-1], option, " (%s)" % kind if kind else "", label)
        ):
            sent, outcome = _run_exchange(shared_sim, module, option, base, kind, value)
            commands.extend(outcome.commands)
            verdicts[label] = check_value(module, option, sent, outcome)
    with cases.soft("%s %s: same PowerShell code for every value" % (module.__name__.rsplit(".", 1)[-1], option)):
        if commands or any(v != "refused" for v in verdicts.values()):
            same_code(commands)


@pytest.mark.parametrize(
    "module,option,base,kind",
    GRAPH_OPTIONS,
    ids=["%s.%s" % (m.__name__.rsplit(".", 1)[-1], o) for m, o, _b, _k in GRAPH_OPTIONS],
)
def test_graph_option_hostile_values(shared_sim, cases, module, option, base, kind):
    from hybrid_sim.entra import make_certificate

    for label, value in CORPUS.items():
        if (option, label) in KNOWN_BUGS:
            continue  # see test_known_bug_*
        with cases.soft("%s %s: %s" % (module.__name__.rsplit(".", 1)[-1], option, label)):
            # a new certificate each time, so the module must write (display_name travels only on a write)
            args = graph_args(shared_sim, certificate=make_certificate("Safety %d" % len(label)).base64_der)
            args.update(base)
            args = {k: v for k, v in args.items() if v is not None}
            sent = _wrap(kind, value)
            args[option] = sent
            outcome = drive(module, args, shared_sim)
            check_value(module, option, sent, outcome, graph=True)


OVERRIDE = {"name": "Planted", "component": "Global", "section": "S", "parameters": ["Enabled=true"]}
KNOWN_BUGS: set[tuple[str, str]] = set()  # (option, corpus label) pairs with an open bug; none now


def test_long_username_refused(shared_sim, cases):
    from ansible_collections.exchange.hybrid.plugins.modules import exchange_server_info

    with cases.case("connection username: 100 KB"):
        outcome = drive(exchange_server_info, winrm_args(shared_sim, username=CORPUS["100 KB"]), shared_sim)
        assert outcome.failed and not outcome.calls
        assert "username" in outcome.msg, outcome.msg[:200]


def test_long_display_name_refused(shared_sim, cases):
    from hybrid_sim.entra import make_certificate

    with cases.case("msol_sp_credential display_name: 100 KB"):
        sent = CORPUS["100 KB"]
        args = graph_args(shared_sim, certificate=make_certificate("Safety long name").base64_der, display_name=sent)
        check_value(msol_sp_credential, "display_name", sent, drive(msol_sp_credential, args, shared_sim), graph=True)


def test_long_application_display_name_refused(shared_sim, cases):
    from hybrid_sim.entra import make_certificate

    with cases.case("msol_sp_credential application_display_name: 100 KB"):
        sent = CORPUS["100 KB"]
        args = graph_args(shared_sim, certificate=make_certificate("Safety long").base64_der)
        args.update(target="hybrid_application", create_application=True, application_display_name=sent)
        outcome = drive(msol_sp_credential, args, shared_sim)
        tail = outcome.msg.replace(sent, "<value>")
        assert "could not be verified" not in tail, "a closed connection is reported as a TLS failure: %s" % tail
        check_value(msol_sp_credential, "application_display_name", sent, outcome, graph=True)


def test_planted_interpolating_runner_is_caught(shared_sim, cases):
    """A client that writes a value into the PowerShell text fails the oracle and the same-code check."""
    value = CORPUS["single quote + statement"]
    with cases.defect("runner interpolating a value: value oracle"):
        with interpolating_runner.planted():
            sent, outcome = _run_exchange(shared_sim, exchange_setting_override, "reason", OVERRIDE, None, value)
        check_value(exchange_setting_override, "reason", sent, outcome)
    with cases.defect("runner interpolating a value: same-code check"):
        with interpolating_runner.planted():
            first = _run_exchange(shared_sim, exchange_setting_override, "reason", OVERRIDE, None, "a")[1].commands
            second = _run_exchange(shared_sim, exchange_setting_override, "reason", OVERRIDE, None, value)[1].commands
        same_code(first + second)
    with cases.defect("runner interpolating a value: parse shape differs"):
        with interpolating_runner.planted():
            texts = [
                _runner_script.split_stdin(
                    interpolating_runner._interpolating_payload(  # pylint: disable=protected-access
                        {"calls": [{"cmdlet": "X", "parameters": {"P": v}}]}
                    )
                )[0]
                for v in ("plain", value)
            ]
        assert parse_shape(texts[0]) == parse_shape(texts[1]), "parse shape differs"


CONNECTION_OPTIONS = ["server", "username", "ca_path"]
GRAPH_CONNECTION_OPTIONS = ["tenant", "client_id", "authority_host", "graph_endpoint"]


def test_connection_options_never_become_code(shared_sim, cases):
    """Connection options never reach PowerShell: refused naming the option, or rejected by the server
    (authentication) with nothing executed; the PowerShell sent stays the fixed text."""
    from ansible_collections.exchange.hybrid.plugins.modules import exchange_server_info, tenant_info

    commands = []
    for option in CONNECTION_OPTIONS:
        for label, value in CORPUS.items():
            if (option, label) in KNOWN_BUGS:
                continue  # see test_known_bug_*
            with cases.soft("connection %s: %s" % (option, label)):
                args = winrm_args(shared_sim)
                args[option] = value
                outcome = drive(exchange_server_info, args, shared_sim)
                commands.extend(outcome.commands)
                assert outcome.failed and not outcome.calls, "a hostile %s ran something: %r" % (option, outcome)
                assert (
                    option in outcome.msg
                    or "credentials" in outcome.msg
                    or "could not connect" in outcome.msg
                    or "does not exist" in outcome.msg
                ), "unclear failure for %s: %r" % (option, outcome.msg[:300])
    for option in GRAPH_CONNECTION_OPTIONS:
        for label, value in CORPUS.items():
            with cases.soft("connection %s: %s" % (option, label)):
                outcome = drive(tenant_info, graph_args(shared_sim, **{option: value}), shared_sim)
                writes = [
                    r
                    for r in outcome.graph_requests
                    if r.get("method") in ("POST", "PATCH", "DELETE") and "oauth2" not in r.get("path", "")
                ]
                assert outcome.failed and not writes, "a hostile %s was accepted: %r" % (option, outcome)
                assert (
                    option in outcome.msg or "client" in outcome.msg or "tenant" in outcome.msg
                ), "unclear failure for %s: %r" % (option, outcome.msg[:300])
    with cases.soft("connection options: same PowerShell code"):
        if commands:
            same_code(commands)


PLAYBOOK = r"""
- hosts: EX2019
  gather_facts: false
  tasks:
    - name: reason
      exchange.hybrid.exchange_setting_override:
        name: SafetyPlaybook
        component: Global
        section: ExchangeOnpremAsThirdPartyAppId
        parameters: ["Enabled={{ v }}"]
        reason: "{{ v }}"
        refresh_variant_configuration: false
    - name: uri
      exchange.hybrid.push_proxy:
        organization: contoso.onmicrosoft.com
        uri: "https://outlook.office365.com/PushNotifications/{{ v }}"
    - name: export
      exchange.hybrid.exchange_oauth_cert:
        export_path: 'C:\Certs\{{ p }}.cer'
      register: cert
    - name: long
      exchange.hybrid.exchange_auth_server:
        name: "{{ long }}"
        tenant_domain: contoso.onmicrosoft.com
    - name: display
      exchange.hybrid.msol_sp_credential:
        tenant: "{{ hybrid_tenant_id }}"
        client_id: "{{ hybrid_graph_client_id }}"
        client_secret: "{{ hybrid_graph_client_secret }}"
        authority_host: "{{ hybrid_graph_authority_host }}"
        graph_endpoint: "{{ hybrid_graph_endpoint }}"
        ca_path: "{{ exchange_sim_ca_path }}"
        certificate: "{{ cert.certificate }}"
        display_name: "{{ v }}"
      delegate_to: localhost
"""
# Everything the corpus tries, in one value that Ansible's templating passes through unchanged (no NUL: YAML
# and Ansible refuse it before a module runs; CR/LF/quotes/$()/backticks are in).
COMBINED = "x'; Remove-Item C:\\; $(Stop-Computer) @(1) ${env:PATH} `n\r\n \u2018\u2019\u201a\u201b\u201c\u201d\u201e \u00e9\u6771"


def test_through_ansible_playbook(make_sim, run_playbook, cases):
    sim = make_sim(servers=[__import__("hybrid_sim.simulation", fromlist=["x"]).DEFAULT_SERVERS[2]])
    value = COMBINED
    long_value = ("L'$(x)\u2019" * 15000)[: 100 * 1024]
    path_value = value.replace("\r", "").replace("\n", "")  # export_path refuses CR/LF (a file name cannot hold them)
    run = run_playbook(sim, PLAYBOOK, extra_vars={"v": value, "p": path_value, "long": long_value})
    with cases.case("ansible-playbook: every task ran"):
        assert run.rc == 0, run
    calls = sim.calls()

    def sent(cmdlet, parameter):
        return [c["parameters"].get(parameter) for c in calls if c["cmdlet"] == cmdlet]

    with cases.soft("ansible-playbook: setting override reason and parameters unchanged"):
        assert sent("New-SettingOverride", "Reason") == [value]
        assert sent("New-SettingOverride", "Parameters") == [["Enabled=" + value]]
    with cases.soft("ansible-playbook: push proxy uri unchanged"):
        assert "https://outlook.office365.com/PushNotifications/" + value in sent("Enable-PushNotificationProxy", "Uri")
    with cases.soft("ansible-playbook: export path unchanged"):
        assert sent("Set-RunnerFileContent", "Path") == ["C:\\Certs\\" + path_value + ".cer"]
    with cases.soft("ansible-playbook: 100 KB AuthServer name unchanged"):
        assert sent("New-AuthServer", "Name") == [long_value]
    with cases.soft("ansible-playbook: key display name unchanged in the PATCH"):
        bodies = [json.dumps(r.get("body"), ensure_ascii=False) for r in sim.entra.log if r.get("method") == "PATCH"]
        assert any(json.dumps(value, ensure_ascii=False)[1:-1] in b for b in bodies), bodies[:1]
    with cases.soft("ansible-playbook: same PowerShell code for every task"):
        commands = [c for server in sim.servers.values() for c in getattr(server.handler, "seen", [])]
        assert commands
        same_code(commands)
