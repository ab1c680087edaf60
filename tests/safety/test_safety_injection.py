"""Injection (issue 8, issue 13): every string option of every remote module, and the connection options, with
hostile values.

Oracle per (module, option, value): the value arrives unchanged, byte for byte, as a parameter value at the
simulated cmdlet (``calls.jsonl``, written from what psrpcore decoded) or in the Graph request the simulator
received, or the module refuses it before any connection with a message that names the option. Across every value
no script reaches the Microsoft.Exchange endpoint: every command the Exchange endpoint decoded is a cmdlet of the
catalog sent as a command (never ``is_script``), and the default endpoint receives only the collection's Windows
PowerShell cmdlets and its fixed host scripts, byte-identical to ``_host_scripts.HOST_SCRIPTS`` (values bound by
their ``param()`` block).
"""

from __future__ import annotations

import itertools
import json

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _cmdlet_catalog, _host_scripts
from ansible_collections.exchange.hybrid.plugins.modules import (
    exchange_auth_server,
    exchange_monitoring_probe,
    exchange_oauth_cert,
    exchange_setting_override,
    msol_sp_credential,
    push_proxy,
)
from defects import interpolating_client
from hybrid_sim.simulation import is_read_call
from hybrid_sim.wsman import DEFAULT_CONFIGURATION, EXCHANGE_CONFIGURATION
from safety_harness import drive, exchange_args, graph_args, pipelines_seen

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
    if outcome.failed and outcome.calls and all(is_read_call(c) for c in outcome.calls):
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
        assert _as_parameter(sent, outcome.pipelines), "%s=%r did not travel as a PSRP parameter value" % (
            option,
            str(sent)[:80],
        )
    return "arrived"


def no_script_on_exchange(pipelines):
    """No script reaches Microsoft.Exchange; only the fixed host scripts reach the default endpoint.

    Every command of every pipeline the Exchange endpoint decoded is a cmdlet of the catalog (its exact name, so no
    value travelled inside the name), sent as a command, never as script text. On the default endpoint every
    script is one of ``HOST_SCRIPTS`` byte for byte and every command one of ``HOST_CMDLETS``.
    """
    assert pipelines, "no pipeline reached the simulated endpoints"
    for pipeline in pipelines:
        for command in pipeline.commands:
            if pipeline.configuration == EXCHANGE_CONFIGURATION:
                assert not command.is_script, "script text reached Microsoft.Exchange: %r" % command.name[:120]
                assert _cmdlet_catalog.is_exchange_cmdlet(command.name), (
                    "a command that is not a cmdlet of the catalog reached Microsoft.Exchange: %r" % command.name[:120]
                )
            elif pipeline.configuration == DEFAULT_CONFIGURATION:
                if command.is_script:
                    assert command.name in _host_scripts.HOST_SCRIPTS.values(), (
                        "a script that is not one of the fixed host scripts reached the default endpoint: %r"
                        % command.name[:120]
                    )
                else:
                    assert command.name in _host_scripts.HOST_CMDLETS, (
                        "a command that is not a host cmdlet reached the default endpoint: %r" % command.name[:120]
                    )
            else:
                raise AssertionError("a pipeline on an unknown configuration %r" % pipeline.configuration)


def _as_parameter(sent, pipelines) -> bool:
    """Each value (or element) is, exactly, the value of a named parameter of a decoded PSRP command."""
    wanted = sent if isinstance(sent, list) else [sent]
    seen = []
    for pipeline in pipelines:
        for command in pipeline.commands:
            for name, value in command.parameters:
                if name is not None:
                    seen.extend(value if isinstance(value, list) else [value])
    return all(any(isinstance(v, str) and v == w for v in seen) for w in wanted)


_SECTIONS = itertools.count()


def _run_exchange(sim, module, option, base, kind, value):
    args = exchange_args(sim)
    args.update(base)
    if module is exchange_setting_override and option != "section":
        # A section of its own per run: an override left by an earlier value for the same section would be adopted
        # (or be a duplicate that disagrees) instead of letting this value reach New-SettingOverride.
        args["section"] = "S%d" % next(_SECTIONS)
    sent = _wrap(kind, value)
    args[option] = sent
    return sent, drive(module, args, sim)


@pytest.mark.parametrize(
    "module,option,base,kind",
    EXCHANGE_OPTIONS,
    ids=["%s.%s%s" % (m.__name__.rsplit(".", 1)[-1], o, "(%s)" % k if k else "") for m, o, _b, k in EXCHANGE_OPTIONS],
)
def test_exchange_option_hostile_values(shared_sim, cases, module, option, base, kind):
    pipelines = []
    verdicts = {}
    for label, value in CORPUS.items():
        with cases.soft(
            "%s %s%s: %s" % (module.__name__.rsplit(".", 1)[-1], option, " (%s)" % kind if kind else "", label)
        ):
            sent, outcome = _run_exchange(shared_sim, module, option, base, kind, value)
            pipelines.extend(outcome.pipelines)
            verdicts[label] = check_value(module, option, sent, outcome)
    with cases.soft("%s %s: no script reaches Microsoft.Exchange" % (module.__name__.rsplit(".", 1)[-1], option)):
        if pipelines or any(v != "refused" for v in verdicts.values()):
            no_script_on_exchange(pipelines)


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
        outcome = drive(exchange_server_info, exchange_args(shared_sim, username=CORPUS["100 KB"]), shared_sim)
        assert outcome.failed and not outcome.calls and not outcome.connected, outcome
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


def test_planted_interpolating_client_is_caught(shared_sim, cases):
    """A client that formats a value into script text fails the value oracle and the no-script check."""
    value = CORPUS["single quote + statement"]
    with cases.defect("client formatting a value into script text: value oracle"):
        with interpolating_client.planted():
            sent, outcome = _run_exchange(shared_sim, exchange_setting_override, "reason", OVERRIDE, None, value)
        check_value(exchange_setting_override, "reason", sent, outcome)
    with cases.defect("client formatting a value into script text: no script reaches Microsoft.Exchange"):
        with interpolating_client.planted():
            first = _run_exchange(shared_sim, exchange_setting_override, "reason", OVERRIDE, None, "a")[1]
            second = _run_exchange(shared_sim, exchange_setting_override, "reason", OVERRIDE, None, value)[1]
        no_script_on_exchange(first.pipelines + second.pipelines)
    with cases.defect("client formatting a value into a host script: value oracle"):
        with interpolating_client.planted("host scripts"):
            sent, outcome = _run_exchange(shared_sim, exchange_oauth_cert, "export_path", {}, "path", value)
        check_value(exchange_oauth_cert, "export_path", sent, outcome)
    with cases.defect("client formatting a value into a host script: host scripts byte-identical"):
        with interpolating_client.planted("host scripts"):
            outcome = _run_exchange(shared_sim, exchange_oauth_cert, "export_path", {}, "path", value)[1]
        no_script_on_exchange(outcome.pipelines)
    with cases.case("the same runs without the defect"):
        sent, outcome = _run_exchange(shared_sim, exchange_setting_override, "reason", OVERRIDE, None, value)
        assert check_value(exchange_setting_override, "reason", sent, outcome) == "arrived"
        sent, path_run = _run_exchange(shared_sim, exchange_oauth_cert, "export_path", {}, "path", value)
        assert check_value(exchange_oauth_cert, "export_path", sent, path_run) == "arrived"
        no_script_on_exchange(outcome.pipelines + path_run.pipelines)


def test_1mb_value_crosses_several_envelopes(shared_sim, cases):
    """The PSRP counterpart of the old stdin chunking: a 1 MB hostile value is larger than pypsrp's 512000-byte
    envelope, so CreatePipeline goes out as a Command and Send fragments (and its echo comes back over many
    Receives); it still arrives byte for byte as one parameter value."""
    value = ("B'$(x)\u2019\r\n`\u201c" * 80000)[: 1024 * 1024]
    with cases.case("exchange_auth_server name: 1 MB over several WS-Man envelopes"):
        sent, outcome = _run_exchange(
            shared_sim, exchange_auth_server, "name", {"tenant_domain": "contoso.onmicrosoft.com"}, None, value
        )
        assert check_value(exchange_auth_server, "name", sent, outcome) == "arrived", outcome
        actions = [r["action"] for r in outcome.exchange_requests]
        assert "Send" in actions, "the 1 MB value did not need more than one envelope: %s" % actions
        no_script_on_exchange(outcome.pipelines)


# Connection options: (option, overrides that make the option decide where the client goes, what else the failure
# may name instead of the option). A value the client cannot refuse by itself goes to the KDC (user, password,
# service principal), which rejects it: still nothing connects to a runspace.
CONNECTION_OPTIONS = [
    ("server", {"connection_uri": None}, ()),  # both endpoints' URLs are derived from server
    ("connection_uri", {}, ()),
    ("username", {}, ()),
    ("password", {}, ()),
    ("negotiate_service", {}, ("has no service principal",)),  # the SPN tried, <value>/ex2019.contoso.com
    ("negotiate_hostname_override", {}, ()),
    ("ca_path", {}, ()),
    ("cert_pem", {}, ()),
    ("cert_key_pem", {}, ()),
]
GRAPH_CONNECTION_OPTIONS = ["tenant", "client_id", "authority_host", "graph_endpoint"]


def test_connection_options_never_become_code(shared_sim, cases):
    """Connection options never reach PowerShell: refused before connecting naming the option, or rejected by the
    KDC with a message naming the option (or the service principal tried), with nothing executed, no WS-Man request
    processed and no pipeline decoded."""
    from ansible_collections.exchange.hybrid.plugins.modules import exchange_server_info, tenant_info

    pipelines = []
    for option, overrides, also in CONNECTION_OPTIONS:
        for label, value in CORPUS.items():
            if (option, label) in KNOWN_BUGS:
                continue  # see test_known_bug_*
            with cases.soft("connection %s: %s" % (option, label)):
                args = exchange_args(shared_sim, **overrides)
                args = {k: v for k, v in args.items() if v is not None}
                args[option] = value
                outcome = drive(exchange_server_info, args, shared_sim)
                pipelines.extend(outcome.pipelines)
                assert outcome.failed and not outcome.calls, "a hostile %s ran something: %r" % (option, outcome)
                assert not outcome.pipelines and not outcome.wsman_requests, "a hostile %s reached a runspace: %r" % (
                    option,
                    outcome,
                )
                tail = outcome.msg.replace(value, "<value>")
                assert option in tail or any(word in tail for word in also), "unclear failure for %s: %r" % (
                    option,
                    tail[:300],
                )
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
    with cases.soft("connection options: no script reaches Microsoft.Exchange"):
        if pipelines:
            no_script_on_exchange(pipelines)


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
    - name: hostile username
      exchange.hybrid.exchange_server_info:
        username: "{{ v }}"
      ignore_errors: true
    - name: hostile hostname override
      exchange.hybrid.exchange_server_info:
        negotiate_hostname_override: "{{ p }}"
      ignore_errors: true
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
    with cases.soft("ansible-playbook: export path unchanged (a parameter of the fixed host script)"):
        assert sent("script:write_file", "Path") == ["C:\\Certs\\" + path_value + ".cer"]
    with cases.soft("ansible-playbook: 100 KB AuthServer name unchanged"):
        assert sent("New-AuthServer", "Name") == [long_value]
    with cases.soft("ansible-playbook: key display name unchanged in the PATCH"):
        bodies = [json.dumps(r.get("body"), ensure_ascii=False) for r in sim.entra.log if r.get("method") == "PATCH"]
        assert any(json.dumps(value, ensure_ascii=False)[1:-1] in b for b in bodies), bodies[:1]
    with cases.soft("ansible-playbook: hostile connection options refused, naming them, nothing ran"):
        for task, option in (
            ("hostile username", "username"),
            ("hostile hostname override", "negotiate_hostname_override"),
        ):
            record = run.results(task, "EX2019")[0]
            result = record["result"]
            assert record["status"] == "ignored" and option in str(result.get("msg")), (task, record["status"], result)
            assert not result.get("servers"), (task, "read the servers with a hostile %s" % option)
        statuses = [t["status"] for t in run.tasks]
        assert statuses.count("ignored") == 2, statuses
    with cases.soft("ansible-playbook: no script reaches Microsoft.Exchange, host scripts byte-identical"):
        pipelines = pipelines_seen(sim)
        assert any(p.configuration == EXCHANGE_CONFIGURATION for p in pipelines)
        assert any(p.configuration == DEFAULT_CONFIGURATION for p in pipelines)
        no_script_on_exchange(pipelines)
    with cases.soft("ansible-playbook: every value travelled as a PSRP parameter value"):
        pipelines = pipelines_seen(sim)
        for wanted in (value, ["Enabled=" + value], long_value, "C:\\Certs\\" + path_value + ".cer"):
            assert _as_parameter(wanted, pipelines), str(wanted)[:80]
