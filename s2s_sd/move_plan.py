"""The typed plans of the systemd engine's move, start and recover of a group. Pure.

A plan is a tuple of steps, one frozen dataclass per kind of step, built from the group,
where it was seen (`Located`), the target and the operator's options. The executor
(engines/systemd/move.py) follows a plan step by step, one method per kind, so that
`move --dry-run` prints exactly the steps a move runs, and what a move journals is a
`JournalStep` of its plan, which `recover` reads back to resume (`recovery_host`).

What happens when a step fails is part of the step (a start that fails rolls back, or
clears the journal, or keeps it for `recover`), so the plan also says it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum

from s2s_sd.errors import Refused
from s2s_sd.model import Group
from s2s_sd.naming import target_name
from s2s_sd.observation import GroupObservation
from s2s_sd.plan import assigned_host, vips_lead


class JournalStep(StrEnum):
    """How far a move (or start) got: the steps a plan journals, and nothing else."""

    STOPPING = "stopping"  # the source is being stopped (or nothing ran yet)
    STARTING = "starting"  # proven down everywhere; the target is being started
    POST_MOVE = "post_move"  # started on the target; its post-move hook runs
    ROLLBACK = "rollback"  # a failed move goes back: the source is being started again


# Until the target is started a move goes back to its source, from then on forward to
# its target (a rollback journal names the original source as its target).
BACKWARD_STEPS = (JournalStep.STOPPING,)
FORWARD_STEPS = (JournalStep.STARTING, JournalStep.POST_MOVE, JournalStep.ROLLBACK)
RECOVERY_STEPS = BACKWARD_STEPS + FORWARD_STEPS


def journal_step(text: str) -> JournalStep | None:
    """The step a journal names, None for one this version never writes."""
    try:
        return JournalStep(text)
    except ValueError:
        return None


def recovery_host(step: JournalStep, source: str | None, target: str) -> str:
    """Where an interrupted move is finished: once the target was being started the
    move goes forward; before that it goes back to the source."""
    if step in FORWARD_STEPS or source is None:
        return target
    return source


def because(reasons: Mapping[str, str], hosts: Sequence[str | None]) -> str:
    """The reasons of the unreachable hosts of a message, to end it with:
    ` (n2: ssh: connect to host n2 port 22: Connection refused)`, or nothing."""
    known = [f"{h}: {reasons[h]}" for h in hosts if h is not None and h in reasons]
    return f" ({'; '.join(known)})" if known else ""


# -- the kinds of step --------------------------------------------------------------------

class StartFailure(Enum):
    """What a failed start is followed by: the operation's own sequence after it."""

    ROLL_BACK = "stop it there and start it again on the source"  # a move, source stopped
    CLEAR = "stop it there and clear the journal"  # nothing ran before: nothing to recover
    KEEP = "stop it there; the journal stays for `recover`"  # recover: still interrupted
    GIVE_UP = "the move stays journaled for `recover`"  # the rollback's own start


@dataclass(frozen=True)
class TakeLock:
    host = None
    text = "take the admin lock on every reachable host"


@dataclass(frozen=True)
class Preflight:
    host = None
    text = ("check configuration generations, freeze marks and journals; observe where "
            "the group runs")


@dataclass(frozen=True)
class AlreadyRuns:
    host: str
    group: str

    @property
    def text(self) -> str:
        return f"{self.group} runs fully here already: nothing is stopped or started"


@dataclass(frozen=True)
class SkipSource:
    """--force: the source cannot be asked; the move relies on ARP/ND silence."""

    host: str

    text = "unreachable: cannot stop the group there (--force: relying on ARP/ND silence)"


@dataclass(frozen=True)
class ArpOnly:
    """Other hosts of the group cannot be asked: only ARP/ND speaks for them."""

    hosts: tuple[str, ...]
    host = None

    @property
    def text(self) -> str:
        return f"{', '.join(self.hosts)} unreachable: checked by ARP/ND only"


@dataclass(frozen=True)
class WriteJournal:
    step: JournalStep
    hosts: tuple[str, ...]  # the involved hosts; the admin's own copy is written too
    source: str | None
    target: str
    forced: bool = False
    clear_on_failure: bool = False  # the first: nothing changed yet, leave nothing
    host = None

    @property
    def text(self) -> str:
        return (f"journal '{self.step}' ({self.source or '-'} -> {self.target}) on "
                f"{', '.join(self.hosts) or 'no other host'} and this host")


class HookKind(StrEnum):
    """A group's move hooks: the key that names it, and what follows its failure."""

    PRE_MOVE = "pre_move"  # on the source before the stop: a failure ends the move
    POST_MOVE = "post_move"  # on the target after the start: a failure is reported


@dataclass(frozen=True)
class MoveHook:
    which: HookKind
    host: str
    hook: str
    source: str | None
    target: str

    @property
    def text(self) -> str:
        after = "clear the journal, stop here" if self.which is HookKind.PRE_MOVE else \
            "reported, the move stands"
        return f"run {self.which.replace('_', '-')} hook {self.hook} (on failure: {after})"


@dataclass(frozen=True)
class StopOn:
    host: str
    group: str
    partly: bool = False  # partly up where it is to start: stopped before a fresh start

    @property
    def text(self) -> str:
        if self.partly:
            return f"stop the partly started {target_name(self.group)}"
        return f"stop {target_name(self.group)} (busy mounts: holders get TERM, then KILL)"


@dataclass(frozen=True)
class VerifyDown:
    """The stop's answer is the host's own check: units, VIPs, mounts, scripts."""

    host: str
    text = ("verify units inactive, VIPs gone, mounts gone (on failure: the journal stays "
            "for `recover`)")


@dataclass(frozen=True)
class VerifyNowhere:
    target: str  # where the VIP probe is sent from
    skip: tuple[str, ...] = ()  # unreachable hosts: not asked
    admin_probe: bool = True  # False: each VIP member's own probe on the target is it
    roll_back_to: str | None = None  # refused: start it there again
    clear_journal: bool = False  # refused: nothing changed, the journal goes
    host = None

    @property
    def text(self) -> str:
        if self.admin_probe:
            text = "verify no host runs the group and nobody answers ARP/ND for its VIPs"
        else:
            text = ("verify no host runs the group (nobody answering ARP/ND for its VIPs: "
                    "each VIP member's own probe, before anything else of the group starts)")
        if self.roll_back_to:
            return f"{text} (refused: start it on {self.roll_back_to} again)"
        return text


@dataclass(frozen=True)
class StartOn:
    host: str
    group: str
    if_failed: StartFailure
    roll_back_to: str | None = None  # ROLL_BACK: the source it goes back to
    failed_on: str | None = None  # GIVE_UP: the target the rolled back move failed on
    # a move: a target lost while starting counts as a failed start (its stop is tried)
    lost_is_failure: bool = False

    @property
    def text(self) -> str:
        after = self.if_failed.value
        if self.roll_back_to:
            after = after.replace("the source", self.roll_back_to)
        return f"start {target_name(self.group)} (on failure: {after})"


@dataclass(frozen=True)
class Record:
    group: str
    target: str
    host = None

    @property
    def text(self) -> str:
        return f"record {self.group} -> {self.target} on every host (boot links follow)"


@dataclass(frozen=True)
class ClearJournal:
    host = None
    text = "clear the journal on every host"


@dataclass(frozen=True)
class RollBack:
    """A failed move goes back: the steps of `rollback_steps` follow."""

    host: str  # the source it goes back to
    group: str
    target: str

    @property
    def text(self) -> str:
        return f"roll back: start {self.group} on {self.host} again"


@dataclass(frozen=True)
class Unlock:
    host = None
    text = "release the admin lock"


MoveStep = (TakeLock | Preflight | AlreadyRuns | SkipSource | ArpOnly | WriteJournal
            | MoveHook | StopOn | VerifyDown | VerifyNowhere | StartOn | Record
            | ClearJournal | RollBack | Unlock)
# done around a plan, not by it: the plan is made from what is seen under the lock
FRAMING = (TakeLock, Preflight, Unlock)


def describe(step: MoveStep) -> str:
    """One line of `move --dry-run`: `[HOST] what happens there`."""
    where = f"[{step.host}] " if step.host else ""
    return f"{where}{step.text}"


# -- where the group is -------------------------------------------------------------------

@dataclass(frozen=True)
class Located:
    """Where a group was seen before it is moved."""

    source: str | None  # where it runs (or, unreachable, is assigned); None: nowhere
    source_reachable: bool
    unreachable: tuple[str, ...]  # the hosts that could not be asked, sorted
    fully_up: tuple[str, ...]  # the hosts where every member runs
    assigned: str  # the host it is assigned to now


def locate(group: Group, seen: Mapping[str, GroupObservation], unreachable: Iterable[str],
           assignments: Mapping[str, str]) -> Located:
    """Where GROUP runs, from what the hosts said; refused when it is active on two."""
    active = [h for h, o in seen.items() if o.active]
    if len(active) > 1:
        raise Refused(f"group {group.name} is active on {' and '.join(active)}: "
                      "resolve that first (see `s2s-sd status`)")
    assigned = assigned_host(group, assignments)
    fully_up = tuple(h for h, o in seen.items() if o.fully_up)
    lost = tuple(sorted(unreachable))
    if active:
        return Located(active[0], True, lost, fully_up, assigned)
    if assigned in lost:
        return Located(assigned, False, lost, fully_up, assigned)
    return Located(None, True, lost, fully_up, assigned)


# -- the plans ----------------------------------------------------------------------------

def move_plan(group: Group, target: str, where: Located, force: bool,
              reasons: Mapping[str, str] | None = None) -> tuple[MoveStep, ...]:
    """The steps of moving GROUP to TARGET from where it was seen; Refused when the
    move may not go ahead (REASONS: why each unreachable host could not be asked)."""
    why = reasons or {}
    source = where.source
    if target in where.unreachable:
        raise Refused(f"{target} is unreachable{because(why, [target])}: nothing was changed")
    framing_before: tuple[MoveStep, ...] = (TakeLock(), Preflight())
    if source == target and target in where.fully_up:
        steps: list[MoveStep] = [AlreadyRuns(target, group.name)]
        if where.assigned != target:
            steps.append(Record(group.name, target))
        return (*framing_before, *steps, Unlock())
    steps = []
    if source is not None and not where.source_reachable:
        if not force:
            raise Refused(f"{group.name} is assigned to {source}, which is unreachable"
                          f"{because(why, [source])}: the group cannot be proven stopped "
                          "there; if that host is really down, use --force")
        steps.append(SkipSource(source))
    others = tuple(h for h in where.unreachable if h != source and h in group.hosts)
    if others:
        steps.append(ArpOnly(others))
    involved = tuple(dict.fromkeys(h for h in (source, target)
                                   if h and h not in where.unreachable))
    steps.append(WriteJournal(JournalStep.STOPPING, involved, source, target, force,
                              clear_on_failure=True))
    moving = source if source and source != target and where.source_reachable else None
    if moving:
        if group.pre_move:
            steps.append(MoveHook(HookKind.PRE_MOVE, moving, group.pre_move, source, target))
        steps += [StopOn(moving, group.name), VerifyDown(moving)]
    elif source == target:
        steps.append(StopOn(target, group.name, partly=True))
    # a forced move (source unreachable) is refused on the admin's own probe
    steps.append(VerifyNowhere(target, where.unreachable,
                               admin_probe=not (where.source_reachable and vips_lead(group)),
                               roll_back_to=moving, clear_journal=not moving))
    steps.append(WriteJournal(JournalStep.STARTING, involved, source, target, force))
    steps.append(StartOn(target, group.name,
                         StartFailure.ROLL_BACK if moving else StartFailure.CLEAR,
                         roll_back_to=moving, lost_is_failure=True))
    steps.append(WriteJournal(JournalStep.POST_MOVE, involved, source, target, force))
    if group.post_move:
        steps.append(MoveHook(HookKind.POST_MOVE, target, group.post_move, source, target))
    steps += [Record(group.name, target), ClearJournal()]
    return (*framing_before, *steps, Unlock())


def rollback_steps(group: Group, source: str, target: str, skip: tuple[str, ...] = ()
                   ) -> tuple[MoveStep, ...]:
    """A move whose target failed goes back to its source, proven down everywhere
    again first (but on SKIP, the hosts the move could not ask either: the group ran on
    the source with them unreachable); if the source does not start either, the journal
    stays."""
    return (RollBack(source, group.name, target), VerifyNowhere(source, skip),
            WriteJournal(JournalStep.ROLLBACK, (source, target), target, source),
            StartOn(source, group.name, StartFailure.GIVE_UP, failed_on=target),
            Record(group.name, source), ClearJournal())


def start_steps(group: Group, host: str, verify: bool, if_failed: StartFailure
                ) -> tuple[MoveStep, ...]:
    """Start GROUP on HOST (`start`, and `recover` once it knows where): proven down
    everywhere (unless VERIFY is False: it is partly up there already), journaled as a
    start, started; a failed start is stopped again, and if that fails too the journal
    stays, as IF_FAILED says."""
    steps: list[MoveStep] = [VerifyNowhere(host)] if verify else []
    return (*steps, WriteJournal(JournalStep.STARTING, (host,), None, host),
            StartOn(host, group.name, if_failed))


def recover_steps(group: Group, step: JournalStep, source: str | None, target: str,
                  seen: Mapping[str, GroupObservation],
                  assignments: Mapping[str, str]) -> tuple[MoveStep, ...]:
    """Finish an interrupted move that had reached STEP: where it runs fully it stays;
    otherwise what is partly up is stopped and the group started where the journaled
    step points (back to the source before the target was being started, forward
    after), or, when that host is no longer one of the group's, on its assigned host."""
    active = [h for h, o in seen.items() if o.active]
    if len(active) > 1:
        raise Refused(f"{group.name} is active on {' and '.join(active)}: stop it on all "
                      "but one host by hand, then recover")
    if active and seen[active[0]].fully_up:
        return (AlreadyRuns(active[0], group.name), Record(group.name, active[0]),
                ClearJournal())
    host = recovery_host(step, source, target)
    if host not in group.hosts:
        host = assigned_host(group, assignments)
    stops = tuple(StopOn(h, group.name, partly=True) for h in active)
    judged = tuple(VerifyDown(h) for h in active)
    return (*(s for pair in zip(stops, judged, strict=True) for s in pair),
            *start_steps(group, host, True, StartFailure.KEEP),
            Record(group.name, host), ClearJournal())
