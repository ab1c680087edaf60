# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One error root and one way to fail a module with it."""

from __future__ import annotations

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _errors


class Module:
    def fail_json(self, **kwargs):
        raise AssertionError(kwargs)


def failed(exc, what=None, **result):
    with pytest.raises(AssertionError) as info:
        _errors.fail_from_error(Module(), exc, what, **result)
    return info.value.args[0]


@pytest.mark.parametrize(
    "cls",
    [
        _errors.ExchangeConnectionError,
        _errors.ExchangeCommandError,
        _errors.ExchangeInputError,
        _errors.GraphConnectionError,
        _errors.CertificateError,
        _errors.CatalogError,
    ],
)
def test_every_service_error_is_a_hybrid_error(cls):
    assert issubclass(cls, _errors.HybridError)
    assert cls("text").msg == "text"


def test_exchange_failure_names_what_failed_and_keeps_the_details():
    exc = _errors.ExchangeCommandError("Get-X failed on ex01: no", "ex01", {"index": 0}, cmdlet="Get-X", kind="rbac")
    result = failed(exc, "read X", changed=False, error="the module's own", exception=None)
    assert result["msg"] == "Failed to read X: Get-X failed on ex01: no"
    assert result["server"] == "ex01" and result["error"] == {"index": 0, "kind": "rbac"}
    assert result["changed"] is False and "ExchangeCommandError" in result["exception"]
    assert exc.details == {"index": 0}, "the error itself is not changed"


def test_graph_failure_keeps_its_message_and_graph_error():
    exc = _errors.GraphError("Failed to read the tenant: Forbidden", status=403, code="Authorization_RequestDenied")
    result = failed(exc)
    assert result["msg"] == "Failed to read the tenant: Forbidden"
    assert result["graph_error"] == {"status": 403, "code": "Authorization_RequestDenied"}
