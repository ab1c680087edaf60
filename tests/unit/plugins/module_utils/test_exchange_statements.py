# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ExchangeClient.read_statements``: attribution of one pipeline's streams to its statements, chunking, and the
read alone of whatever cannot be attributed. The wire (ExtraCmds through pypsrp to the simulator) is proven in
tests/sim/test_psrp_statements.py."""

from __future__ import annotations

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _errors, _exchange as ex, _exchange_connection


class Record:
    """The parts of an ErrorRecord the client reads."""

    exception = None
    category = None

    def __init__(self, message, error_id="InvalidOperationException,Get-ExchangeCertificate", target=None):
        self.details_message = message
        self.fq_error = error_id
        self.reason = "InvalidOperation"
        self.target_object = target


class Client(ex.ExchangeClient):
    """Answers each server's store from ``stores`` (name -> rows, or an error text); ``batch`` replaces the batched
    pipeline's answer when set."""

    def __init__(self, stores, batch=None):
        p = {name: spec.get("default") for name, spec in _exchange_connection.CONNECTION_ARGUMENT_SPEC.items()}
        p.update(server="ex01.contoso.com", username="exadmin@CONTOSO.COM", password="pw-canary")
        super().__init__(p)
        self.stores, self.batch, self.pipelines = stores, batch, []

    def answer(self, entry):
        found = self.stores[entry["parameters"]["Server"]]
        return ([], [Record(found)]) if isinstance(found, str) else (list(found), [])

    def _invoke_statements(self, entries):
        self.pipelines.append([e["parameters"]["Server"] for e in entries])
        if self.batch is not None and len(entries) > 1:
            return self.batch
        rows, records = [], []
        for entry in entries:
            more, errors = self.answer(entry)
            rows += more
            records += errors
        return rows, records


def row(server, thumb):
    return {"Thumbprint": thumb, "Identity": "%s.contoso.com\\%s" % (server.lower(), thumb)}


def read(client, servers):
    calls = [ex.call("Get-ExchangeCertificate", ["Thumbprint", "Identity"], Server=s) for s in servers]

    def row_owner(found):
        names = [s.lower() + ".contoso.com" for s in servers]
        owner = found["Identity"].split("\\", 1)[0]
        return names.index(owner) if owner in names else None

    def error_owner(text):
        named = [i for i, s in enumerate(servers) if ("server %s:" % s) in text]
        return named[0] if len(named) == 1 else None

    return client.read_statements(calls, row_owner, error_owner)


def test_one_pipeline_and_each_statement_gets_its_rows_and_its_error():
    stores = {
        "EX1": [row("EX1", "A1"), row("EX1", "B1")],
        "EX2": "A special Rpc error occurs on server EX2: down",
        "EX3": [row("EX3", "A3")],
    }
    client = Client(stores)
    (one, none), (two, error), (three, _ok) = read(client, ["EX1", "EX2", "EX3"])
    assert client.pipelines == [["EX1", "EX2", "EX3"]]
    assert [r["Thumbprint"] for r in one] == ["A1", "B1"] and none is None
    assert [r["Thumbprint"] for r in three] == ["A3"]
    assert two == [] and error.kind == "cmdlet" and error.index == 1 and "down" in error.msg


def test_what_cannot_be_attributed_is_read_alone():
    # An error naming two servers, a row of a store nobody asked for, and a store with no certificates.
    stores = {"EX1": [row("EX1", "A1")], "EX2": [], "EX3": [row("EX3", "A3")]}
    batch = ([row("EX9", "Z9"), row("EX3", "A3")], [Record("server EX1: and server EX2: both")])
    client = Client(stores, batch=batch)
    results = read(client, ["EX1", "EX2", "EX3"])
    assert client.pipelines == [["EX1", "EX2", "EX3"], ["EX1"], ["EX2"]]
    assert results == [([row("EX1", "A1")], None), ([], None), ([row("EX3", "A3")], None)]


def test_a_refused_batch_is_read_one_pipeline_per_call():
    refusal = Record("The syntax is not supported by this runspace.", "ScriptsNotAllowed", "server EX1: EX2")
    stores = {"EX1": [row("EX1", "A1")], "EX2": "A special Rpc error occurs on server EX2: down"}
    client = Client(stores, batch=([], [refusal]))
    (one, _ok), (two, error) = read(client, ["EX1", "EX2"])
    assert client.pipelines == [["EX1", "EX2"], ["EX1"], ["EX2"]]
    assert one == [row("EX1", "A1")] and two == [] and "down" in error.msg


def test_a_call_refused_alone_raises_as_run_does():
    stores = {"EX1": [row("EX1", "A1")], "EX2": []}
    not_found = Record("The term 'Get-ExchangeCertificate' is not recognized", "CommandNotFoundException")
    client = Client(stores, batch=([], [not_found]))
    client.answer = lambda entry: ([], [not_found])
    with pytest.raises(_errors.ExchangeCommandError) as info:
        read(client, ["EX1", "EX2"])
    assert info.value.kind == "rbac" and client.pipelines == [["EX1", "EX2"], ["EX1"]]


def test_large_batches_are_chunked(monkeypatch):
    monkeypatch.setattr(ex, "STATEMENTS_PER_PIPELINE", 2)
    servers = ["EX%d" % i for i in range(1, 6)]
    client = Client({s: [row(s, "T" + s)] for s in servers})
    results = read(client, servers)
    assert client.pipelines == [["EX1", "EX2"], ["EX3", "EX4"], ["EX5"]]
    assert [rows[0]["Thumbprint"] for rows, _error in results] == ["T" + s for s in servers]


@pytest.mark.parametrize(
    "calls",
    [
        [ex.call("Get-ExchangeCertificate", ["Thumbprint"]), ex.call("Get-AuthConfig", ["Thumbprint"])],
        [ex.call("Get-ExchangeCertificate", ["Thumbprint"]), ex.call("Get-ExchangeCertificate", ["Identity"])],
        [ex.call("Remove-ExchangeCertificate", None, Thumbprint="A")],
    ],
    ids=["two-cmdlets", "two-shapes", "a-write"],
)
def test_only_reads_of_one_cmdlet_and_shape(calls):
    client = Client({})
    with pytest.raises(_errors.ExchangeInputError):
        client.read_statements(calls, lambda r: None, lambda t: None)
    assert client.pipelines == []
