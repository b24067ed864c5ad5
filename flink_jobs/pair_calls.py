"""The pairs operator's calls as pure logic (no PyFlink here): which closes feed which pair,
what one call computes (`advance_pairs`: a slice of seconds, a pair catching up, the release of a
pair waiting for a lagging leg), which pairs it changed (`touched`: only those are written back to
state), and what a bar asks for (`bar_call`). flink_jobs/pairs.py's docstring says why each rule
is there; tests/flink/test_pair_analytics.py drives these functions as Flink fires the operator's
timers, and bench/pairs_logic.py measures them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from config import PairSettings
from flink_jobs.pair_analytics import SECOND_MS, PairParameters, PairSpec, PairState, Pending

# A bar behind the last second computed asks for a call this much later (wall time), so the
# bars of a partition read late come a few hundred to a call, not one call per bar.
LATE_BARS_WAIT_MS = 200


def pair_parameters(settings: PairSettings) -> PairParameters:
    return PairParameters(
        window_s=settings.window_s,
        min_points=settings.min_points,
        fill_max_age_ms=settings.fill_max_age_ms,
        adf_every_s=settings.adf_every_s,
        adf_points=settings.adf_points,
    )


def leg_routes(settings: PairSettings) -> dict[str, list[tuple[str, str]]]:
    """exchange:symbol -> the (pair id, leg) it feeds."""
    routes: dict[str, list[tuple[str, str]]] = {}
    for text in settings.pairs:
        spec = PairSpec.parse(text)
        routes.setdefault(spec.y, []).append((spec.pair_id, "y"))
        routes.setdefault(spec.x, []).append((spec.pair_id, "x"))
    return routes


def apply_closes(
    pairs: dict[str, PairState],
    routes: dict[str, list[tuple[str, str]]],
    closes: Iterable[tuple[str, int, str]],
    waiting: dict[str, Pending],
) -> set[str]:
    """The queued (instrument, second, close) of the bars, in arrival order, to the pairs they
    feed. Nothing was computed since they arrived, so this is what applying each on arrival did.

    A pair not started (one leg has had no close yet) takes none: the closes of an instrument
    that such a pair uses wait in `waiting` (once per instrument, not in each of its ~20 pairs),
    and a pair starts with both legs' waiting closes when its second leg's first one comes. In a
    catch-up whose source reads one partition to its end first, hundreds of pairs wait so for
    minutes, and each call wrote back every fed one with all its closes (docs/benchmarks.md).
    Returns the instruments whose waiting closes changed (to write back)."""
    changed: set[str] = set()
    started = False
    for instrument, second, text in closes:
        targets = routes.get(instrument, ())
        if instrument in waiting or any(not pairs[pair_id].ready() for pair_id, _ in targets):
            waiting.setdefault(instrument, Pending()).put((float(text), text, second))
            changed.add(instrument)
        for pair_id, leg in targets:
            pair = pairs[pair_id]
            if pair.ready() or pair.newest:  # under way, or a previous layout's state holding its closes
                pair.on_close(leg, second, text)
            elif waiting.get(pair.spec.x if leg == "y" else pair.spec.y):
                pair.start_with(waiting[pair.spec.y], waiting[pair.spec.x])
                started = True
    if started:  # an instrument none of whose pairs waits any more keeps no closes
        for instrument in [key for key in waiting if all(pairs[p].ready() for p, _ in routes.get(key, ()))]:
            del waiting[instrument]
            changed.add(instrument)
    return changed


def first_second(pairs: Iterable[PairState], last: int | None) -> int | None:
    """The next second to compute: the one after the last computed, or, when no pair has a fresh
    fill there (a stretch where every series broke), the first second a queued bar starts them
    again (the stretch has no records: skipping it is computing it). Not the second of the timer
    that fired: in a catch-up the timers of later bars fire while earlier seconds are still being
    computed. None: nothing to compute yet."""
    pairs = list(pairs)
    if last is not None and any(pair.fills(last + SECOND_MS) is not None for pair in pairs):
        return last + SECOND_MS
    return min((s for pair in pairs if (s := pair.first_pending_after(last)) is not None), default=None)


@dataclass
class Slice:
    """What one call computed (`records`: pair id and record, in order) and what follows: the
    second to compute once the watermark passes it (`wake_at`: an event-time timer), or `resume`
    (seconds behind the watermark remain: continue in another call), or neither (nothing queued,
    no fill can be fresh: the legs' next bars set their timers); and `recheck`."""

    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    last: int | None = None
    wake_at: int | None = None
    resume: bool = False
    # Some pair waits for a lagging leg: call again after Clock.release_ms (wall time), when it
    # may be released even if no bar and no watermark comes.
    recheck: bool = False
    waiting_changed: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Clock:
    """The wall time of a call, how long a pair catching up waits for news of its lagging leg
    (PairSettings.catch_up_release_ms), and when the operator last had input (a call with queued
    bars; 0: never)."""

    now_ms: int
    release_ms: int
    input_at_ms: int = 0


def _still_catching_up(pair: PairState, known: int | None, watermark: int, clock: Clock) -> bool:
    """Whether a pair catching up still waits for its lagging leg: until both legs' bars reach
    the watermark, or until that leg and the whole input have brought nothing new for
    `clock.release_ms` (the end of the input). Without the release, the seconds after a pair's
    last bars were never computed when its catch-up lasted to the end of the input (the job's
    "second stall"). Not the leg's silence alone: on a backlog the source reads a partition in
    fetches of ~2,000 bars, one partition after another, so a leg's bars pause for 10 s and more
    while the others' come; a pair released then stepped to the end without records and its
    leg's bars, when they came, were behind it (bench.flink_pairs, 2026-12-06 06:31: 402,629 of
    456,000 records, then calls of ~55 bars each with no output: the "idle stall")."""
    if known is None or known >= watermark:
        return False
    if known != pair.known_seen:
        pair.known_seen, pair.known_seen_at_ms = known, clock.now_ms
        return True
    quiet_since = max(pair.known_seen_at_ms, clock.input_at_ms)
    return clock.now_ms - quiet_since < clock.release_ms


def step_pair(pair: PairState, second: int, watermark: int, clock: Clock) -> list[tuple[str, dict[str, Any]]]:
    """The pair's records of its seconds up to `second` (one, for a pair under way). A pair
    never stepped waits until both legs have had a close. One that then starts behind `second`
    (a leg whose partition the source read late: idle at the start of a catch-up, so the
    watermark ran ahead of it and its bars come behind the seconds the other pairs computed, a
    few per call) steps only as far as both legs' bars have come, until they reach the watermark
    (from there on its bars come ahead of it, like every other's) or the lagging leg goes quiet
    (`_still_catching_up`)."""
    if pair.stepped_to is None:
        if not pair.ready():
            return []
        first = pair.first_pending_after(None)
        pair.catching_up, pair.known_seen = True, None  # until released (below)
        at = second if first is None else min(first, second)
    elif pair.stepped_to >= second:
        return []
    else:
        at = pair.stepped_to + SECOND_MS
    upto = second
    if pair.catching_up:
        known = pair.known_until()
        pair.catching_up = _still_catching_up(pair, known, watermark, clock)
        if pair.catching_up and known is not None:
            upto = min(second, known)
    records = []
    while at <= upto:
        if pair.fills(at) is None:  # broken here: nothing to compute before its next bar
            following = pair.first_pending_after(at)
            if following is None or following > upto:
                pair.step(upto)  # no record: stale up to there (marks it stepped)
                break
            at = following
            continue
        record = pair.step(at)
        if record is not None:
            records.append((pair.spec.pair_id, record))
        at += SECOND_MS
    return records


def compute_seconds(
    pairs: list[PairState], second: int, watermark: int, max_steps: int, clock: Clock
) -> Slice:
    """Every pair's record of `second` and of the seconds after it up to the watermark (over
    stretches where every series broke, to the next queued bar: `first_second`), at most
    `max_steps` records' worth of pair steps (at least one second)."""
    out = Slice()
    steps = 0
    following: int | None = second
    while following is not None and following <= watermark:
        for pair in pairs:
            out.records.extend(step_pair(pair, following, watermark, clock))
        out.last, steps = following, steps + len(pairs)
        following = first_second(pairs, following)
        if following is not None and following <= watermark and steps >= max_steps:
            out.resume = True
            return out
    out.wake_at = following
    return out


def advance_pairs(
    pairs: dict[str, PairState],
    routes: dict[str, list[tuple[str, str]]],
    queued: Iterable[tuple[str, int, str]],
    last: int | None,
    watermark: int,
    max_steps: int,
    clock: Clock,
    waiting: dict[str, Pending],
) -> Slice:
    """One call of the operator: the closes queued since the last call applied (`waiting`: the
    closes of instruments some pair not started uses, `apply_closes`), the pairs that became ready
    behind the last second computed caught up to it (`step_pair`), then a slice of the seconds from
    the next one (`first_second`) up to the watermark. `Slice.waiting_changed`: the instruments
    whose waiting closes changed."""
    changed = apply_closes(pairs, routes, queued, waiting)
    late = (
        [record for pair in pairs.values() for record in step_pair(pair, last, watermark, clock)]
        if last is not None
        else []
    )
    second = first_second(pairs.values(), last)
    done = (
        Slice()
        if second is None
        else compute_seconds(list(pairs.values()), second, watermark, max_steps, clock)
    )
    done.records[:0] = late
    done.recheck = any(pair.catching_up for pair in pairs.values())
    done.waiting_changed = changed
    return done


def fingerprint(pair: PairState) -> tuple[Any, ...]:
    """What changes when a call changes a pair (a close, a step: `changes`; its catch-up):
    a pair whose fingerprint and routes did not change needs no write back to state."""
    return (pair.changes, pair.catching_up, pair.known_seen, pair.known_seen_at_ms)


def touched(pairs: dict[str, PairState], before: dict[str, tuple[Any, ...]]) -> set[str]:
    """The pairs one call changed: those whose fingerprint moved (a close applied moves it too).
    Only these are written back: with 1,000 pairs of ~10 KB each, writing all at every call
    (the Beam state API pickles each) made a call ~0.3 s and a catch-up's late bars one call
    each (the benchmark's stall at 10 % of its output)."""
    return {key for key, pair in pairs.items() if fingerprint(pair) != before[key]}


def bar_call(second: int, last: int | None, watermark: int, resuming: bool | None) -> str | None:
    """What a queued bar of `second` asks for: "watermark" (an event-time timer of its second),
    "soon" (a processing-time call, LATE_BARS_WAIT_MS later) or None (a continuation is due and
    will apply it). A bar at or behind the watermark asks for a call soon even when its second
    was not computed yet: an event-time timer behind the watermark fires only when the watermark
    next rises, and at the end of a backlog (or on a quiet stream) it may not rise for a long time.
    That happens when the source reads a partition late: the partition was idle, the watermark
    ran ahead on the others, and its bars, ahead of the last second computed, came behind the
    watermark (the job's "second stall": all input read, the watermark final, nothing computed;
    tests/flink/test_pairs_pipeline.py failed so about one run in two)."""
    if (last is None or second > last) and second > watermark:
        return "watermark"
    return None if resuming else "soon"
