"""Profile parsing: every bad input names the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.profile import load_profile, parse_profile
from harness.errors import InputError

REPO = Path(__file__).resolve().parents[2]
GOOD = """
[profile]
name = "t"
nominal_journeys_per_s = 2.0
[[stages]]
load_factor = 1.0
duration_s = 10.0
ramp_s = 2.0
[[stages]]
load_factor = 2.0
duration_s = 20.0
ramp_s = 5.0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


# profiles/ also ships the targets (targets.toml), which is not a load profile
SHIPPED_PROFILES = sorted(p.stem for p in (REPO / "profiles").glob("*.toml") if p.name != "targets.toml")


@pytest.mark.parametrize("name", SHIPPED_PROFILES)
def test_shipped_profiles_parse(name):
    profile = load_profile(REPO / "profiles" / f"{name}.toml")
    assert profile.name == name
    assert profile.stages and profile.total_duration_s > 0
    assert profile.mix_file.resolve() == (REPO / "scenarios" / "mix.toml").resolve()


def test_mix_resolves_from_the_invocation_dir_then_beside_the_profile_then_shipped(tmp_path, monkeypatch):
    """``mix`` is a user's file when one exists from the working directory or beside the profile,
    else the shipped scenarios/mix.toml, whatever the working directory."""
    folder = tmp_path / "mine"
    folder.mkdir()
    profile_path = folder / "p.toml"
    profile_path.write_text(GOOD.replace('name = "t"', 'name = "t"\nmix = "scenarios/mix.toml"'))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("HARNESS_INVOKED_FROM", raising=False)
    shipped = (REPO / "scenarios" / "mix.toml").resolve()
    assert load_profile(profile_path).mix_file.resolve() == shipped
    (folder / "scenarios").mkdir()
    (folder / "scenarios" / "mix.toml").write_text("[mix]\n")
    assert load_profile(profile_path).mix_file == folder / "scenarios" / "mix.toml"
    (elsewhere / "scenarios").mkdir()
    (elsewhere / "scenarios" / "mix.toml").write_text("[mix]\n")
    assert load_profile(profile_path).mix_file == Path("scenarios/mix.toml")
    # a child process started from the install root resolves as its parent did
    monkeypatch.setenv("HARNESS_INVOKED_FROM", str(folder))
    monkeypatch.chdir(tmp_path)
    assert load_profile(profile_path).mix_file == folder / "scenarios" / "mix.toml"


def test_faults_300_schedules_the_documented_payment_faults_at_300():
    profile = load_profile(REPO / "profiles" / "faults-300.toml")
    (fault,) = profile.faults
    plan, _in_ramp = profile.stage_at(fault.at_s + 1)
    assert plan.stage.name == "300%"
    assert fault.knobs["timeout_rate_before_commit"] + fault.knobs["timeout_rate_after_commit"] == 0.17


def test_step_300_is_100_200_300():
    profile = load_profile(REPO / "profiles" / "step-300.toml")
    assert [s.name for s in profile.stages] == ["100%", "200%", "300%"]
    assert [p.journeys_per_s for p in profile.timeline()] == [
        profile.nominal_journeys_per_s * f for f in (1, 2, 3)
    ]


def test_timeline_offsets_and_ramps(tmp_path):
    profile = load_profile(write(tmp_path, GOOD))
    plans = profile.timeline()
    assert [(p.stage.name, p.start_offset_s, p.end_offset_s) for p in plans] == [
        ("100%", 0.0, 10.0), ("200%", 10.0, 30.0)]
    assert profile.stage_at(1.0)[0].stage.name == "100%" and profile.stage_at(1.0)[1] is True
    assert profile.stage_at(12.0)[1] is True and profile.stage_at(16.0)[1] is False
    assert profile.stage_at(30.0) is None and profile.stage_at(-1) is None
    assert profile.load_factor_at(1.0) == pytest.approx(0.5)   # ramps up from 0
    assert profile.load_factor_at(12.5) == pytest.approx(1.5)  # from 1.0 to 2.0
    assert profile.load_factor_at(20.0) == 2.0
    manifest = profile.stages_manifest()
    assert manifest[1] == {"name": "200%", "load_factor": 2.0, "start_offset_s": 10.0, "duration_s": 20.0,
                           "ramp_s": 5.0, "journeys_per_s": 4.0}


def test_optional_tables_kept(tmp_path):
    text = GOOD + """
[profilers]
memray = true
memray_window_s = 30
cpu_profile_stage = "200%"
[[faults]]
at_s = 5
target = "gateway"
knobs = { timeout_rate_before_commit = 0.1 }
"""
    profile = load_profile(write(tmp_path, text))
    assert profile.profilers.memray is True and profile.profilers.cpu_profile_stage == "200%"
    assert profile.profilers.memray_window_s == 30.0
    assert load_profile(write(tmp_path, GOOD)).profilers.memray_window_s is None  # an eighth of the steady part
    assert profile.faults[0].target == "gateway" and profile.faults[0].knobs["timeout_rate_before_commit"] == 0.1
    assert profile.content["profile"]["name"] == "t"


BAD = [
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\nspeed=3\n[[stages]]\nload_factor=1\nduration_s=1",
     "[profile] speed: unknown key"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=-1\n[[stages]]\nload_factor=1\nduration_s=1",
     "[profile] nominal_journeys_per_s: must be > 0"),
    ("[profile]\nname='t'\nnominal_journeys_per_s='fast'\n[[stages]]\nload_factor=1\nduration_s=1",
     "[profile] nominal_journeys_per_s: must be a number"),
    ("[profile]\nnominal_journeys_per_s=1\n[[stages]]\nload_factor=1\nduration_s=1",
     "[profile] name: missing"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\n", "[[stages]]: missing"),
    ("stages=[]\n[profile]\nname='t'\nnominal_journeys_per_s=1\n", "[[stages]]: empty"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\n[[stages]]\nload_factor=-2\nduration_s=1",
     "[[stages]] #1 load_factor: must be >= 0"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\n[[stages]]\nload_factor=1\nduration_s=10\nramp_s=10",
     "[[stages]] #1 ramp_s: must be shorter"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\n[[stages]]\nload_factor=1\nduration_s=1\nwho=1",
     "[[stages]] #1 who: unknown key"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\n[[stages]]\nload_factor=1\nduration_s=1\n"
     "[[stages]]\nload_factor=1\nduration_s=1", "[[stages]] #2 name: duplicate"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\nmax_concurrent_journeys=1.5\n[[stages]]\nload_factor=1\n"
     "duration_s=1", "[profile] max_concurrent_journeys: must be an integer"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\narrivals='burst'\n[[stages]]\nload_factor=1\nduration_s=1",
     "[profile] arrivals: must be one of"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\n[[stages]]\nload_factor=1\nduration_s=1\n"
     "[profilers]\ncpu_profile_stage='9%'", "[profilers] cpu_profile_stage: no stage named"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\n[[stages]]\nload_factor=1\nduration_s=1\n"
     "[profilers]\nmemray='yes'", "[profilers] memray: must be true or false"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\n[[stages]]\nload_factor=1\nduration_s=1\n"
     "[profilers]\nmemray_window_s=2", "[profilers] memray_window_s: must be >= 5"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\n[[stages]]\nload_factor=1\nduration_s=1\n"
     "[profilers]\nmemray_window_s='long'", "[profilers] memray_window_s: must be a number"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\n[[stages]]\nload_factor=1\nduration_s=1\n"
     "[[faults]]\nat_s=1\ntarget='db'", "[[faults]] #1 target: must be one of"),
    ("[profile]\nname='t'\nnominal_journeys_per_s=1\n[[stages]]\nload_factor=1\nduration_s=1\n[extra]\n",
     "extra: unknown key"),
    ("[profile\nname='t'", "not valid TOML"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_profile_names_file_and_field(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_profile(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match=r"nope\.toml: profile file not found"):
        load_profile(tmp_path / "nope.toml")


def test_parse_profile_names_source():
    with pytest.raises(InputError, match=r"^x\.toml: \[profile\]: missing table"):
        parse_profile({}, "x.toml")
