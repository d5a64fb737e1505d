"""Tools tier: the OCF agent ocf:s2s:unit, statically (shellcheck, the DTD, pcs's parser
and RelaxNG schema) and in what it decides before it asks systemd.

Everything it does with a unit needs systemd as PID 1, which this tier does not have:
ocf-tester and the state mapping on real units run in the lab
(tests/lab/test_ocf_unit_lab.py)."""

from __future__ import annotations

import pytest

from s2s_sd.render.pacemaker_agents import UNIT_AGENT_DROPIN
from s2s_sd.run import Result, run
from tests.conftest import REPO
from tests.tools.ocf_checks import assert_meta_data_valid, assert_shellcheck_clean, meta_data

pytestmark = pytest.mark.tools

AGENT = REPO / "s2s_sd" / "ocf" / "unit"
OCF_ERR_ARGS, OCF_ERR_UNIMPLEMENTED, OCF_ERR_CONFIGURED = 2, 3, 6


def call(action: str, **params: str) -> Result:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OCF_RESOURCE_INSTANCE": "web_httpd"}
    env.update({f"OCF_RESKEY_{name}": value for name, value in params.items()})
    return run([str(AGENT), action], check=False, env=env, timeout=30)


def test_shellcheck_clean() -> None:
    assert_shellcheck_clean(AGENT)


def test_meta_data_passes_the_dtd_and_pcs() -> None:
    params, actions = assert_meta_data_valid(AGENT, "unit")
    assert params == ["settle", "unit"]
    assert actions == ["meta-data", "monitor", "start", "stop", "validate-all"]


def test_meta_data_advises_the_timeouts_s2s_sd_renders() -> None:
    text = meta_data(AGENT)
    for action in ('name="start" timeout="100s"', 'name="stop" timeout="100s"',
                   'name="monitor" depth="0" timeout="30s" interval="30s"'):
        assert action in text


@pytest.mark.parametrize("action", ["start", "stop", "monitor", "validate-all"])
def test_no_unit_is_a_configuration_error(action: str) -> None:
    result = call(action)
    assert result.returncode == OCF_ERR_CONFIGURED, result.stderr
    assert "parameter 'unit' is not set" in result.stderr


@pytest.mark.parametrize("name", ["../etc/passwd.service", "a b.service", "--all"])
def test_a_name_that_is_no_unit_is_refused_before_systemctl(name: str) -> None:
    for action in ("start", "stop", "monitor"):
        result = call(action, unit=name)
        assert result.returncode == OCF_ERR_CONFIGURED, (action, result.stderr)
        assert "is not a unit name" in result.stderr


@pytest.mark.parametrize("settle", ["x", "1.2.3", "-1", "."])
def test_a_settle_that_is_no_number_is_refused(settle: str) -> None:
    result = call("validate-all", unit="web.service", settle=settle)
    assert result.returncode == OCF_ERR_CONFIGURED, result.stderr
    assert "settle" in result.stderr


def test_unsupported_actions_and_usage() -> None:
    for action in ("notify", "promote", "demote", "migrate_to", "reload"):
        assert call(action, unit="web.service").returncode == OCF_ERR_UNIMPLEMENTED, action
    assert call("").returncode == OCF_ERR_ARGS
    assert call("usage").returncode == 0


def test_the_dropin_name_is_the_one_migrate_removes() -> None:
    assert f"DROPIN_NAME={UNIT_AGENT_DROPIN}\n" in AGENT.read_text()
