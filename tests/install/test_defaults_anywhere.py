"""Every command finds its default files from any working directory (here: a fresh temporary
directory), through harness.config.paths, and a user's own file there still wins. In-process:
each case stops at the command's validation, before any process starts."""

from __future__ import annotations

import argparse
import json
import shutil
import socket
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import paths
from tests.install._install import REPO

SHIPPED_STEP_300 = (REPO / "profiles" / "step-300.toml").resolve()
SHIPPED_SMOKE = (REPO / "profiles" / "smoke.toml").resolve()
SHIPPED_TARGETS = (REPO / "profiles" / "targets.toml").resolve()
SHIPPED_LOCUSTFILE = (REPO / "loadtests" / "shop.py").resolve()
SHIPPED_MIX = (REPO / "scenarios" / "mix.toml").resolve()


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """The working directory is an empty folder outside the repository."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv(paths.INVOKED_FROM_ENV, raising=False)
    return folder


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _resolved(path) -> Path:
    return Path(path).resolve()


def test_the_shipped_files_are_found_from_the_install_root(elsewhere):
    assert paths.install_root() == REPO.resolve()
    for relative in (paths.STEP_300_PROFILE, paths.SMOKE_PROFILE, paths.TARGETS, paths.MIX,
                     paths.SHOP_LOCUSTFILE, paths.RECORDER_LOCUSTFILE, "profiles/faults/cache-off.toml"):
        assert paths.default_path(relative).is_file(), relative
    assert paths.shipped("no/such.toml") is None and paths.shipped("targets.toml") is None


def test_campaign_defaults_resolve_from_anywhere(elsewhere):
    from harness.flows.campaign import CampaignRequest, run_request

    request = run_request(CampaignRequest(out=elsewhere / "run"))
    assert _resolved(request.profile.path) == SHIPPED_STEP_300
    assert _resolved(request.profile.mix_file) == SHIPPED_MIX
    assert _resolved(request.targets_path) == SHIPPED_TARGETS
    assert _resolved(request.locustfile) == SHIPPED_LOCUSTFILE
    # a shipped file named by its relative path, and a fault file the platform child can open
    request = run_request(CampaignRequest(profile="profiles/smoke.toml", faults="profiles/faults/cache-off.toml"))
    assert _resolved(request.profile.path) == SHIPPED_SMOKE
    assert Path(request.faults).is_absolute() and Path(request.faults).is_file()


def test_a_users_own_files_win(elsewhere):
    from harness.flows.campaign import CampaignRequest, run_request

    (elsewhere / "profiles").mkdir()
    mine = elsewhere / "profiles" / "smoke.toml"
    mine.write_text(SHIPPED_SMOKE.read_text(encoding="utf-8").replace('name = "smoke"', 'name = "mine"'))
    targets = elsewhere / "my-targets.toml"
    shutil.copyfile(SHIPPED_TARGETS, targets)
    request = run_request(CampaignRequest(profile="profiles/smoke.toml", targets="my-targets.toml"))
    assert request.profile.name == "mine" and _resolved(request.profile.path) == mine.resolve()
    assert _resolved(request.targets_path) == targets.resolve()


def test_a_profile_whose_mix_is_nowhere_is_named(elsewhere, capsys):
    profile = elsewhere / "p.toml"
    profile.write_text(SHIPPED_SMOKE.read_text(encoding="utf-8").replace(
        'mix = "scenarios/mix.toml"', 'mix = "no-such-mix.toml"'))
    assert main(["campaign", "--profile", "p.toml", "--out", str(elsewhere / "run")]) == 2
    err = capsys.readouterr().err
    assert "p.toml" in err and "mix" in err and "no-such-mix.toml" in err


def test_capacity_defaults_resolve_from_anywhere(elsewhere):
    from harness.commands import capacity

    parser = argparse.ArgumentParser()
    capacity.prepare_parser(parser)
    request = capacity.build_request(parser.parse_args([]))
    assert _resolved(request.profile.path) == SHIPPED_STEP_300
    assert _resolved(request.targets_path) == SHIPPED_TARGETS
    assert _resolved(request.locustfile) == SHIPPED_LOCUSTFILE
    request = capacity.build_request(parser.parse_args(["--faults", "profiles/faults/cache-off.toml"]))
    assert Path(request.faults).is_file()


def test_run_defaults_resolve_from_anywhere(elsewhere, capsys):
    from harness.commands import run

    locustfile = elsewhere / "mine.py"
    locustfile.write_text("from locust import HttpUser\n")
    recorder, mine = run.locustfiles_for(locustfile).split(",")
    assert _resolved(recorder) == (REPO / "loadtests" / "recorder.py").resolve() and mine == str(locustfile)
    # the profile and the targets resolve before the --host check: that check is what fails
    url = _dead_url()
    assert main(["run", "--locustfile", "mine.py", "--host", url]) == 2
    err = capsys.readouterr().err
    assert "unreachable" in err and url in err, err


def test_worker_default_locustfile_resolves_from_anywhere(elsewhere, monkeypatch):
    from harness.commands import worker

    started = {}

    class FakePopen:
        def __init__(self, argv, env=None):
            started["argv"], started["env"] = argv, env

        def wait(self):
            return 0

    monkeypatch.setattr(worker.subprocess, "Popen", FakePopen)
    monkeypatch.setenv("HARNESS_JOIN_TOKEN", "a-token-of-this-test")
    assert main(["worker", "--master", "127.0.0.1"]) == 0
    argv = started["argv"]
    assert _resolved(argv[argv.index("-f") + 1]) == SHIPPED_LOCUSTFILE
    assert started["env"][paths.INVOKED_FROM_ENV] == str(elsewhere)


def test_shop_fault_files_resolve_from_anywhere(elsewhere):
    from harness.commands.shop import _faults_spec
    from services.faults import load_faults

    label, _shop, _gateway = load_faults(_faults_spec("profiles/faults/cache-off.toml"))
    assert label and _faults_spec("documented-problems") == "documented-problems"


def test_check_judges_with_the_shipped_targets_from_anywhere(elsewhere, capsys):
    """A run directory with no targets copy and a manifest naming a relative targets file that
    is not here: `harness check` falls back to the shipped profiles/targets.toml."""
    run_dir = elsewhere / "run"
    shutil.copytree(REPO / "tests" / "golden" / "step-300-leak", run_dir)
    (run_dir / "targets.toml").unlink()
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert not Path(manifest.get("targets_file", "targets.toml")).is_absolute()
    code = main(["check", str(run_dir)])
    out = capsys.readouterr().out
    assert code in (0, 1), out
    assert "targets.toml" in out.replace("\n", "")


def test_gate_names_the_profile_it_runs_from_anywhere(elsewhere, monkeypatch):
    """`harness gate --profile profiles/smoke.toml` names the run after the shipped profile."""
    from harness.flows import campaign
    from harness.flows import gate as gating

    seen = {}

    def fake_run_campaign(request):
        seen["request"] = request
        raise SystemExit(0)

    monkeypatch.setattr(campaign, "run_campaign", fake_run_campaign)
    request = gating.GateRequest(profile="profiles/smoke.toml", reports=elsewhere / "reports")
    with pytest.raises(SystemExit):
        gating._run_profile(request)
    assert seen["request"].profile == "profiles/smoke.toml" and "smoke" in str(seen["request"].out)
