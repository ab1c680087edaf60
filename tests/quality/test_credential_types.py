# Copyright (c) exchange.hybrid contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX / AAP credential types shipped under extensions/credential_types/.

Each file is validated the way AWX validates a custom credential type (field ids and types, required fields,
injector kinds, env names AWX refuses, templates that only use declared inputs), rendered the way AWX injects it,
and its env injectors are compared with the env fallbacks of the modules' argument specs, so the two cannot
drift. `awx_inject()` is also used by tests/e2e/test_ansible_runner.py to hand a job the env AWX would.
"""

from __future__ import annotations

import copy
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parents[2]
TYPES_DIR = ROOT / "extensions" / "credential_types"
GRAPH_TYPE = TYPES_DIR / "microsoft_graph.yml"
# The Exchange modules' account (PowerShell remoting; the file keeps its first name, from the WinRM shell design).
EXCHANGE_TYPE = TYPES_DIR / "exchange_winrm.yml"

# awx/main/models/credential.py CredentialType.ENV_BLOCKLIST plus AWX's rule that ANSIBLE_* is reserved.
AWX_ENV_BLOCKLIST = {
    "VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID", "INVENTORY_UPDATE_ID",
    "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES", "CALLBACK_QUEUE", "CALLBACK_CONNECTION",
    "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS", "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH",
}
FIELD_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# credential type field id -> module option it feeds (through the option's env fallback)
GRAPH_FIELD_OPTIONS = {
    "tenant": "tenant",
    "client_id": "client_id",
    "client_secret": "client_secret",
    "client_certificate": "client_certificate_path",  # AWX writes the PEM to a file and injects its path
    "client_certificate_password": "client_certificate_password",
    "cloud": "cloud",
}
EXCHANGE_FIELD_OPTIONS = {"username": "username", "password": "password"}


class Unsafe(str):
    """A string Ansible's `!unsafe` tag marked: stored as text, never rendered while the vars are loaded."""


class _UnsafeLoader(yaml.SafeLoader):
    """Reads the infra.aap_configuration format, whose injector templates carry Ansible's `!unsafe` tag."""


_UnsafeLoader.add_constructor("!unsafe", lambda loader, node: Unsafe(loader.construct_scalar(node)))


def _strings(value: Any):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def load_types(path: Path) -> list[dict[str, Any]]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UnsafeLoader)  # noqa: S506 - SafeLoader subclass
    assert isinstance(data, dict) and list(data) == ["controller_credential_types"], path
    return data["controller_credential_types"]


def _referenced_names(template: str) -> tuple[set[str], set[str]]:
    """(top-level variables, `tower.filename.<label>` labels) a template uses."""
    env = ImmutableSandboxedEnvironment()
    ast = env.parse(template)
    labels = set()
    for node in ast.find_all(nodes.Getattr):
        inner = node.node
        if isinstance(inner, nodes.Getattr) and inner.attr == "filename" and isinstance(inner.node, nodes.Name):
            if inner.node.name == "tower":
                labels.add(node.attr)
    return meta.find_undeclared_variables(ast), labels


def validate_type(ctype: dict[str, Any]) -> list[str]:
    """The checks AWX applies when a custom credential type is created (CredentialTypeInputField/InjectorField)."""
    problems = []
    for key in ("name", "kind", "inputs", "injectors"):
        if key not in ctype:
            problems.append(f"missing {key}")
    if ctype.get("kind") not in ("cloud", "net"):
        problems.append("kind must be cloud or net for a custom credential type")
    fields = ctype.get("inputs", {}).get("fields", [])
    ids = [field.get("id") for field in fields]
    if len(ids) != len(set(ids)):
        problems.append(f"duplicate field ids: {ids}")
    for field in fields:
        fid = field.get("id", "")
        if not FIELD_ID.match(fid or ""):
            problems.append(f"field id {fid!r} is not an identifier")
        if not field.get("label"):
            problems.append(f"field {fid}: no label")
        if field.get("type", "string") not in ("string", "boolean"):
            problems.append(f"field {fid}: type must be string or boolean")
        if "choices" in field and field.get("default", field["choices"][0]) not in field["choices"]:
            problems.append(f"field {fid}: default not in choices")
        if field.get("secret") and field.get("type", "string") != "string":
            problems.append(f"field {fid}: only string fields can be secret")
    for required in ctype.get("inputs", {}).get("required", []):
        if required not in ids:
            problems.append(f"required {required!r} is not a field")

    injectors = ctype.get("injectors", {})
    unknown = set(injectors) - {"file", "env", "extra_vars"}
    if unknown:
        problems.append(f"unknown injector kinds {sorted(unknown)}")
    file_labels = set()
    for label in injectors.get("file", {}):
        if label != "template" and not re.match(r"^template\.[A-Za-z_][A-Za-z0-9_]*$", label):
            problems.append(f"file injector {label!r} must be 'template' or 'template.<name>'")
        file_labels.add(label.split(".", 1)[1] if "." in label else "")
    templates = list(injectors.get("file", {}).values()) + list(injectors.get("env", {}).values())
    templates += list(injectors.get("extra_vars", {}).values())
    for name in injectors.get("env", {}):
        if not ENV_NAME.match(name) or name.startswith("ANSIBLE_") or name in AWX_ENV_BLOCKLIST:
            problems.append(f"env {name}: AWX refuses this variable name")
    for template in templates:
        if not isinstance(template, str):
            problems.append(f"injector template {template!r} is not a string")
            continue
        try:
            variables, labels = _referenced_names(template)
        except Exception as exc:  # jinja2.TemplateSyntaxError and friends
            problems.append(f"template {template!r}: {exc}")
            continue
        for variable in variables - {"tower"}:
            if variable not in ids:
                problems.append(f"template {template!r} uses {variable!r}, which is not an input field")
        for label in labels:
            if label not in file_labels:
                problems.append(f"template {template!r} uses tower.filename.{label} without a file injector")
    return problems


def awx_inject(ctype: dict[str, Any], inputs: dict[str, Any], private_data_dir: Path) -> dict[str, str]:
    """Render the injectors as AWX's CredentialType.inject_credential does: files first, then env.

    Inputs not given render as empty strings (AWX sets every env injector); choice fields get their default.
    """

    class Namespace:
        pass

    namespace: dict[str, Any] = {}
    for field in ctype["inputs"]["fields"]:
        if field["id"] in inputs:
            namespace[field["id"]] = inputs[field["id"]]
        elif "default" in field:
            namespace[field["id"]] = field["default"]
        elif field.get("type") == "boolean":
            namespace[field["id"]] = False
    tower = Namespace()
    namespace["tower"] = tower
    sandbox = ImmutableSandboxedEnvironment()
    env_dir = private_data_dir / "env"
    env_dir.mkdir(parents=True, exist_ok=True)
    for label, template in ctype["injectors"].get("file", {}).items():
        data = sandbox.from_string(template).render(**namespace)
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w") as stream:
            stream.write(data)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." not in label:
            tower.filename = path
        else:
            if not hasattr(tower, "filename"):
                tower.filename = Namespace()
            setattr(tower.filename, label.split(".", 1)[1], path)
    return {
        name: sandbox.from_string(template).render(**namespace)
        for name, template in ctype["injectors"].get("env", {}).items()
    }


def env_fallbacks(spec: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """option -> env names of its `fallback=(env_fallback, [...])`."""
    from ansible.module_utils.basic import env_fallback

    found = {}
    for option, definition in spec.items():
        fallback = definition.get("fallback")
        if fallback and fallback[0] is env_fallback:
            found[option] = list(fallback[1])
    return found


def compare_with_spec(ctype: dict[str, Any], spec: dict[str, dict[str, Any]], field_options: dict[str, str]) -> list[str]:
    """Injected env names must be exactly the spec's env fallbacks, each reaching the option its field is for."""
    problems = []
    fallbacks = env_fallbacks(spec)
    all_names = {name for names in fallbacks.values() for name in names}
    injected = ctype["injectors"].get("env", {})
    for name in sorted(set(injected) - all_names):
        problems.append(f"injects {name}, which no option falls back to")
    for name in sorted(all_names - set(injected)):
        problems.append(f"option env fallback {name} is not injected")
    fields = {field["id"]: field for field in ctype["inputs"]["fields"]}
    for name, template in injected.items():
        variables, labels = _referenced_names(template)
        used = (variables - {"tower"}) | labels
        for field_id in used:
            option = field_options.get(field_id)
            if option is None:
                problems.append(f"{name}: field {field_id} has no known module option")
                continue
            if name not in fallbacks.get(option, []):
                problems.append(f"{name} (field {field_id}) is not an env fallback of option {option}")
            if spec.get(option, {}).get("no_log") and not fields[field_id].get("secret"):
                problems.append(f"field {field_id} feeds no_log option {option} but is not secret: true")
    return problems


def _spec(module: str, name: str) -> dict[str, dict[str, Any]]:
    imported = __import__(f"ansible_collections.exchange.hybrid.plugins.module_utils.{module}", fromlist=[name])
    assert hasattr(imported, name), f"plugins/module_utils/{module}.py has no {name}: nothing to compare the type with"
    return getattr(imported, name)


@pytest.mark.parametrize("path", [GRAPH_TYPE, EXCHANGE_TYPE], ids=lambda p: p.name)
def test_credential_type_is_valid_for_awx(path):
    types = load_types(path)
    assert len(types) == 1
    assert validate_type(types[0]) == []
    assert types[0]["kind"] == "cloud"


def test_every_credential_type_file_is_checked():
    assert sorted(TYPES_DIR.glob("*.yml")) == sorted([GRAPH_TYPE, EXCHANGE_TYPE])


def test_templates_are_marked_unsafe_for_infra_aap_configuration():
    """Loaded as Ansible vars, an unmarked '{{ tenant }}' would be rendered (and fail) instead of stored."""
    for path in (GRAPH_TYPE, EXCHANGE_TYPE):
        templates = [text for text in _strings(load_types(path)) if "{{" in text or "{%" in text]
        assert templates
        for text in templates:
            assert isinstance(text, Unsafe), f"{path.name}: {text!r} is not marked !unsafe"


def test_graph_credential_type_secrets_and_required_fields():
    (ctype,) = load_types(GRAPH_TYPE)
    fields = {field["id"]: field for field in ctype["inputs"]["fields"]}
    assert set(fields) == set(GRAPH_FIELD_OPTIONS)
    assert {fid for fid, field in fields.items() if field.get("secret")} == {
        "client_secret", "client_certificate", "client_certificate_password"
    }
    assert fields["client_certificate"].get("multiline") is True
    assert ctype["inputs"]["required"] == ["tenant", "client_id"]
    from ansible_collections.exchange.hybrid.plugins.module_utils._clouds import CLOUD_CHOICES

    assert fields["cloud"]["choices"] == CLOUD_CHOICES and fields["cloud"]["default"] == "global"


def test_graph_injection_as_awx_renders_it(tmp_path):
    (ctype,) = load_types(GRAPH_TYPE)
    env = awx_inject(ctype, {"tenant": "contoso.onmicrosoft.com", "client_id": "app", "client_secret": "s3cr3t"}, tmp_path)
    assert env["AZURE_TENANT_ID"] == "contoso.onmicrosoft.com"
    assert env["AZURE_CLIENT_ID"] == "app"
    assert env["AZURE_CLIENT_SECRET"] == "s3cr3t"
    assert env["AZURE_CLIENT_CERTIFICATE_PATH"] == ""  # no certificate: no path, even though AWX writes a file
    assert env["AZURE_CLIENT_CERTIFICATE_PASSWORD"] == ""

    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    env = awx_inject(ctype, {"tenant": "t", "client_id": "c", "client_certificate": pem, "cloud": "china"}, tmp_path)
    path = Path(env["AZURE_CLIENT_CERTIFICATE_PATH"])
    assert path.read_text(encoding="utf-8") == pem
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert env["AZURE_CLIENT_SECRET"] == ""
    assert [value for name, value in env.items() if "CLOUD" in name] == ["china"]


def test_graph_credential_type_matches_graph_argument_spec():
    spec = _spec("_graph", "GRAPH_ARGUMENT_SPEC")
    (ctype,) = load_types(GRAPH_TYPE)
    assert compare_with_spec(ctype, spec, GRAPH_FIELD_OPTIONS) == []


def test_exchange_credential_type_matches_connection_argument_spec():
    spec = _spec("_exchange_connection", "CONNECTION_ARGUMENT_SPEC")
    (ctype,) = load_types(EXCHANGE_TYPE)
    assert compare_with_spec(ctype, spec, EXCHANGE_FIELD_OPTIONS) == []
    assert set(ctype["injectors"]["env"]) == {"EXCHANGE_USERNAME", "EXCHANGE_PASSWORD"}


def test_spec_comparison_can_fail():
    from ansible.module_utils.basic import env_fallback

    spec = {
        "username": {"type": "str", "fallback": (env_fallback, ["EXCHANGE_USERNAME"])},
        "password": {"type": "str", "no_log": True, "fallback": (env_fallback, ["EXCHANGE_PASSWORD"])},
    }
    (ctype,) = load_types(EXCHANGE_TYPE)
    assert compare_with_spec(ctype, spec, EXCHANGE_FIELD_OPTIONS) == []

    renamed = copy.deepcopy(ctype)
    renamed["injectors"]["env"]["EXCHANGE_PASS"] = renamed["injectors"]["env"].pop("EXCHANGE_PASSWORD")
    problems = compare_with_spec(renamed, spec, EXCHANGE_FIELD_OPTIONS)
    assert "injects EXCHANGE_PASS, which no option falls back to" in problems
    assert "option env fallback EXCHANGE_PASSWORD is not injected" in problems

    not_secret = copy.deepcopy(ctype)
    not_secret["inputs"]["fields"][1].pop("secret")
    assert compare_with_spec(not_secret, spec, EXCHANGE_FIELD_OPTIONS) == [
        "field password feeds no_log option password but is not secret: true"
    ]


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda t: t["injectors"]["env"].update(ANSIBLE_HOST_KEY_CHECKING="{{ username }}"), "AWX refuses"),
        (lambda t: t["injectors"]["env"].update(EXCHANGE_SERVER="{{ server }}"), "not an input field"),
        (lambda t: t["injectors"]["env"].update(X="{{ tower.filename.key }}"), "without a file injector"),
        (lambda t: t["inputs"]["required"].append("domain"), "is not a field"),
        (lambda t: t["injectors"]["env"].update(Y="{{ username "), "template"),
    ],
)
def test_awx_validation_can_fail(mutate, expected):
    (ctype,) = load_types(EXCHANGE_TYPE)
    broken = copy.deepcopy(ctype)
    mutate(broken)
    assert any(expected in problem for problem in validate_type(broken)), validate_type(broken)
