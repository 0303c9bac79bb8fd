"""The campaign flow: a typed request in, a validated :class:`harness.flows.run.RunRequest`
run, its outcome out. ``harness campaign`` fills the request from its flags; ``harness gate
--profile`` fills it from its own, so both run a campaign the same way with the same defaults."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from harness.config import paths
from harness.errors import InputError

# The shipped defaults: harness.config.paths finds them from any working directory.
DEFAULT_PROFILE = paths.STEP_300_PROFILE
DEFAULT_LOCUSTFILE = paths.SHOP_LOCUSTFILE
DEFAULT_TARGETS = paths.TARGETS


@dataclass(frozen=True)
class CampaignRequest:
    """A campaign as asked for, before validation; every default is the campaign's."""

    profile: str | None = None  # a path (from the working directory, else shipped); None: DEFAULT_PROFILE
    target: str | None = None  # a running platform on loopback; None: the embedded one
    workers: int = 0
    platform_workers: int | None = None
    faults: str | None = None
    database: str | None = None
    targets: str | None = None  # None: the shipped DEFAULT_TARGETS
    strict: bool = False
    memray: bool = False
    cpu_profile: str | None = None  # a stage, "none", or None: the profile's [profilers] choice
    locustfile: str | None = None  # None: the shipped DEFAULT_LOCUSTFILE
    sut_pids: tuple[int, ...] = ()
    out: Path | None = None
    argv: tuple[str, ...] | None = None  # recorded in the manifest; None: this process's argv
    allow_hosts: tuple[str, ...] = ()  # --allow-host entries (harness.config.allow)
    allow_hosts_file: str | None = None
    ca_bundle: str | None = None
    preflight_only: bool = False  # print the pre-flight, check the target, send no load
    master_bind: str | None = None  # ADDR[:PORT]: workers on other hosts join the master there
    expect_workers: int = 0  # workers from other hosts to wait for (with master_bind)
    workers_wait_s: float | None = None  # how long to wait for them (None: the default)
    join_token_file: str | None = None  # the join token (else HARNESS_JOIN_TOKEN, else one is made)
    metrics_urls: tuple[str, ...] = ()  # --metrics-url: the remote platform's Prometheus endpoints
    prometheus: str | None = None  # --prometheus: a server that scrapes the platform (read after the run)
    selector: str | None = None
    prometheus_step_s: float = 1.0


def check_workers(workers: int) -> int:
    """``--workers`` as given if >= 0, else InputError naming the flag."""
    if workers < 0:
        raise InputError(f"--workers {workers}: must be 0 (one local process) or more")
    return workers


def check_metrics_urls(urls: tuple[str, ...], safety, remote: bool) -> tuple[str, ...]:
    """--metrics-url values, each through the safety catch (InputError naming the flag)."""
    from harness.config import allow
    if urls and not remote:
        raise InputError("--metrics-url is for a platform the harness did not start (--target/--host): the "
                         "embedded platform's processes are sampled directly")
    return tuple(allow.check_target_allowed(url, "--metrics-url", safety).url for url in urls)


def check_prometheus(url: str | None, selector: str | None, step_s: float, safety, remote: bool,
                     metrics_urls: tuple[str, ...]) -> tuple[str, str, float] | None:
    """(--prometheus URL, --selector, step) validated, or None; InputError naming the flag."""
    from harness.config import allow
    from harness.core.prometheus import check_selector
    if url is None and selector is None:
        return None
    if url is None or selector is None:
        raise InputError("--prometheus URL and --selector '{job=\"shop\"}' go together")
    if not remote:
        raise InputError("--prometheus is for a platform the harness did not start (--target/--host)")
    if metrics_urls:
        raise InputError("give --metrics-url or --prometheus, not both: each is a source of the same process series")
    try:
        selector = check_selector(selector)
    except ValueError as error:
        raise InputError(f"--selector {error}") from None
    if not 0 < step_s <= 60:
        raise InputError(f"--prometheus-step {step_s:g}: must be in (0, 60] seconds")
    return allow.check_target_allowed(url, "--prometheus", safety).url, selector, float(step_s)


def run_request(request: CampaignRequest):
    """Validate every input (InputError naming the flag) into an orchestration RunRequest."""
    from harness.config import allow
    from harness.config import inputs as check
    from harness.flows import run as orch

    profile = check.validate_profile(request.profile, DEFAULT_PROFILE)
    safety = allow.safety_from(list(request.allow_hosts), request.allow_hosts_file, request.ca_bundle)
    workers = check_workers(request.workers)
    from harness.flows.distributed import master_options
    master = master_options(request.master_bind, request.expect_workers, request.workers_wait_s,
                            request.join_token_file)
    if request.platform_workers is not None and request.platform_workers < 1:
        raise InputError(f"--platform-workers {request.platform_workers}: must be 1 or more")
    stage_names = [s["name"] for s in profile.stages_manifest()]
    cpu_stage = request.cpu_profile if request.cpu_profile is not None else profile.profilers.cpu_profile_stage
    if cpu_stage in ("none", ""):
        cpu_stage = None
    if cpu_stage is not None and cpu_stage not in stage_names:
        raise InputError(f"--cpu-profile {cpu_stage!r}: no such stage in {profile.path} "
                         f"(stages: {', '.join(stage_names)})")
    targets_path = check.validate_targets(check.input_file(request.targets, DEFAULT_TARGETS, "--targets"), "--targets")
    faults = check.resolve_faults(request.faults)
    locustfile = str(check.input_file(request.locustfile, DEFAULT_LOCUSTFILE, "--locustfile"))
    target, checked = None, None
    if request.target:
        checked = allow.check_target_allowed(request.target, "--target", safety)  # before any connection
        target = checked.url
        if request.faults or request.memray or request.platform_workers or request.database:
            raise InputError("--faults, --memray, --platform-workers and --database apply to the embedded "
                             "platform; drop them with --target (configure that platform yourself)")
    # every flag is checked before the first connection (the target's health check)
    metrics_urls = check_metrics_urls(request.metrics_urls, safety, remote=target is not None)
    prometheus = check_prometheus(request.prometheus, request.selector, request.prometheus_step_s, safety,
                                  remote=target is not None, metrics_urls=metrics_urls)
    if target is not None:
        check.check_target(target, "--target", health_path="/healthz", verify=safety.verify)
    sut_pids = check.require_pids(list(request.sut_pids) or None, "--sut-pid")
    if sut_pids and target is None:
        raise InputError("--sut-pid samples a service the harness did not start: use it with --target "
                         "(the embedded platform is always sampled)")
    if (request.memray or profile.profilers.memray) and target is None:
        from harness.execute.memray_attach import check_windows
        check_windows(profile.stages_manifest(), profile.profilers.memray_window_s,
                      "--memray" if request.memray else "[profilers] memray", str(profile.path))
    fault_schedule = check.profile_faults(profile)
    if fault_schedule and target is not None:
        print(f"harness campaign: warning: {profile.path} has [[faults]]; they apply only to the embedded "
              "platform and are skipped with --target", file=sys.stderr)
        fault_schedule = ()
    return orch.RunRequest(
        argv=list(request.argv) if request.argv is not None else ["harness", *sys.argv[1:]],
        profile=profile, locustfile=locustfile, target=target, workers=workers,
        platform_workers=request.platform_workers, faults=faults, out=request.out,
        targets_path=targets_path, strict=request.strict,
        memray=request.memray or profile.profilers.memray, cpu_profile_stage=cpu_stage,
        database=request.database, faults_schedule=fault_schedule, sut_pids=sut_pids,
        checked_target=checked, safety=safety, preflight_only=request.preflight_only, master=master,
        metrics_urls=metrics_urls, prometheus=prometheus,
    )


def run_campaign(request: CampaignRequest):
    """Validate ``request``, carry the campaign out; its :class:`harness.flows.run.RunOutcome`."""
    from harness.flows import run as orch

    run = run_request(request)
    if run.preflight_only:
        return orch.preflight_only(run)
    return orch.execute(run)
