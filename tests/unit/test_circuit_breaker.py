"""The circuit breaker, on a clock the test moves."""

from __future__ import annotations

import pytest

from rooms_adapters.circuit_breaker import BreakerState, CircuitBreaker


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def breaker(clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker(open_for_s=5.0, clock=clock)


@pytest.fixture
def in_trial(breaker: CircuitBreaker, clock: ManualClock) -> CircuitBreaker:
    """A breaker that opened, waited out its 5 s and let this caller through as the trial."""
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.allow()
    return breaker


def test_a_new_breaker_lets_calls_through(breaker: CircuitBreaker) -> None:
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    breaker.record_success()
    assert breaker.allow()


def test_one_failure_opens_it_and_calls_are_refused_while_open(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.9
    assert not breaker.allow()
    assert not breaker.allow()
    assert (breaker.failures, breaker.rejected, breaker.opened) == (1, 2, 1)


def test_after_the_wait_exactly_one_trial_goes_through(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.allow()
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(), "a second caller must not join the trial"


def test_a_successful_trial_closes_it(in_trial: CircuitBreaker) -> None:
    in_trial.record_success()
    assert in_trial.state is BreakerState.CLOSED
    assert in_trial.allow()


def test_a_failed_trial_opens_it_for_a_whole_new_wait(
    in_trial: CircuitBreaker, clock: ManualClock
) -> None:
    in_trial.record_failure()
    assert in_trial.state is BreakerState.OPEN
    clock.now += 4.9
    assert not in_trial.allow()
    clock.now += 0.1
    assert in_trial.allow()
    assert in_trial.opened == 2


def test_a_late_success_does_not_close_a_breaker_opened_meanwhile(
    breaker: CircuitBreaker,
) -> None:
    assert breaker.allow()  # call A starts
    assert breaker.allow()  # call B starts
    breaker.record_failure()  # B fails
    breaker.record_success()  # A, older news, succeeds
    assert breaker.state is BreakerState.OPEN


def test_the_wait_must_be_positive() -> None:
    with pytest.raises(ValueError, match="open_for_s"):
        CircuitBreaker(open_for_s=0)


def test_an_abandoned_trial_lets_the_next_caller_try_at_once(in_trial: CircuitBreaker) -> None:
    in_trial.abandon_trial()
    assert in_trial.state is BreakerState.OPEN
    assert in_trial.allow(), "the wait had elapsed: the next caller is the new trial"
    assert in_trial.failures == 1


def test_abandoning_outside_a_trial_changes_nothing(breaker: CircuitBreaker) -> None:
    breaker.abandon_trial()
    assert breaker.state is BreakerState.CLOSED


def test_reset_closes_an_open_breaker_at_once() -> None:
    breaker = CircuitBreaker(open_for_s=60.0, clock=lambda: 0.0)
    breaker.record_failure()
    assert not breaker.allow()
    breaker.reset()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
