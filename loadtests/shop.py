"""Locustfile: the shop's visitors as an open-model load, recorded into a run directory.

    locust -f loadtests/shop.py -H http://127.0.0.1:8000 --headless
    locust -f loadtests/shop.py -H URL --headless --profile profiles/step-300.toml --run-dir reports/x
    locust -f loadtests/shop.py --master ...  /  locust -f loadtests/shop.py --worker ...

Options: ``--profile PATH`` (default profiles/smoke.toml), ``--run-dir DIR`` (default: a new
temporary directory, its path logged at start).

Open model: in every load-generating process (the local runner, or each worker) a dispatcher
greenlet draws the profile's arrivals (Poisson or evenly spaced, seeded; each of N workers takes
1/N of the rate) at their intended times and hands each to an idle user. Users are
``max_concurrent_journeys`` (the concurrency cap); an arrival with no idle user is recorded as a
dropped visit. The intended start is fixed in advance, so a slow platform cannot slow the load.
:class:`ProfileShape` holds the user count and stops the test at the profile's end, once the
visits in flight are done or ``drain_s`` has passed: every run is bounded.
"""

from __future__ import annotations

import logging
import random
import sys
import time

import gevent
from gevent.queue import Channel, Full
from locust import FastHttpUser, LoadTestShape, constant, events, task

from harness.config.profile import Profile
from harness.errors import InputError
from loadtests.arrivals import intended_arrivals
from loadtests.locust_client import FastClient
from loadtests.recorder import RUN, profile_shape_tick
from scenarios.journeys import run_visit
from scenarios.mix import Mix, load_mix
from scenarios.visit import AccountBook, Visit

log = logging.getLogger("loadtests.shop")


class _Visitors:
    """This process's arrivals channel, accounts, mix and dispatcher (users are greenlets)."""

    arrivals = Channel()  # put(block=False) succeeds only if a user is waiting: idle or dropped
    accounts = AccountBook()
    mix: Mix | None = None
    dispatcher: gevent.Greenlet | None = None


VISITORS = _Visitors()


@events.init.add_listener
def _init(environment, **_kwargs) -> None:
    if RUN.profile is not None:  # local runner or master: the mix goes to workers with the plan
        try:
            VISITORS.mix = load_mix(RUN.profile.mix_file)
        except InputError as error:
            log.error("%s", error)
            sys.exit(2)
        RUN.plan_extra["mix"] = vars(VISITORS.mix)
        _apply_timeouts(RUN.profile)
    RUN.plan_listeners.append(_start_dispatcher)
    RUN.stop_listeners.append(_stop_dispatcher)


def _apply_timeouts(profile: Profile) -> None:
    ShopVisitor.network_timeout = profile.request_timeout_s
    ShopVisitor.connection_timeout = profile.request_timeout_s


def _start_dispatcher(profile: Profile, t0_s: float, index: int, count: int, extra: dict) -> None:
    if "mix" in extra:
        VISITORS.mix = Mix(**extra["mix"])
    _apply_timeouts(profile)
    _stop_dispatcher()
    VISITORS.dispatcher = gevent.spawn(_dispatch, profile, t0_s, index, count)


def _stop_dispatcher() -> None:
    if VISITORS.dispatcher is not None:
        VISITORS.dispatcher.kill(block=False)
        VISITORS.dispatcher = None


def _dispatch(profile: Profile, t0_s: float, index: int, count: int) -> None:
    """Hand each intended arrival to an idle user at its time, or record it as dropped."""
    recorder = RUN.recorder
    worker = recorder.worker
    for number, arrival in enumerate(intended_arrivals(profile, process_index=index, process_count=count)):
        intended_t_s = t0_s + arrival.offset_s
        delay_s = intended_t_s - time.time()
        if delay_s > 0:
            gevent.sleep(delay_s)
        visit_id = f"{worker}-{number}"
        try:
            VISITORS.arrivals.put((visit_id, arrival, intended_t_s), block=False)
            recorder.arrival(arrival.stage, True)
        except Full:  # every user is busy: the concurrency cap drops this arrival
            recorder.arrival(arrival.stage, False)
            recorder.journey(visit_id, visit_id, "visit", arrival.stage, arrival.in_ramp, intended_t_s, None, None,
                             False, "dropped")  # fmt: skip


class ShopVisitor(FastHttpUser):
    """One visitor slot: waits for an arrival, runs that visit, waits again."""

    wait_time = constant(0)
    # TLS is verified (FastHttpUser's default is not to): against the system's CAs, or the bundle
    # that --ca-bundle puts in SSL_CERT_FILE (set it on remote worker hosts too).
    insecure = False
    network_timeout = 10.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.shop = FastClient(self.client)

    @task
    def visit(self) -> None:
        visit_id, arrival, intended_t_s = VISITORS.arrivals.get()
        recorder, profile = RUN.recorder, RUN.profile
        recorder.in_flight += 1
        try:
            run_visit(
                Visit(client=self.shop, sink=recorder, rng=random.Random(f"{profile.seed}:{visit_id}"),
                      clock=time.time, sleep=gevent.sleep, visit_id=visit_id, stage=arrival.stage,
                      in_ramp=arrival.in_ramp, intended_t_s=intended_t_s, accounts=VISITORS.accounts,
                      time_scale=profile.time_scale, journey_timeout_s=profile.journey_timeout_s),
                VISITORS.mix,
            )  # fmt: skip
        finally:
            recorder.in_flight -= 1


class ProfileShape(LoadTestShape):
    """Users = the concurrency cap until the profile's end; then stop once drained (<= drain_s)."""

    def tick(self):
        profile = RUN.profile
        return None if profile is None else profile_shape_tick(profile.max_concurrent_journeys, self.runner)
