"""Entry scans + person tracks -> shopping sessions (who pays for whom).

Group rules (the store's billing policy):

* **Single shopper**: one scan at the entry gate (``EntryEvent``, ``companions = 0``) binds the
  next track *born* in the entry zone (first seen inside an entry polygon) into a session with
  that scan's opaque payer token.
* **Family**: one scan with ``companions = N`` binds the next ``N + 1`` tracks born in the entry
  zone into ONE session, one payer; everything any of them picks goes on that one receipt.
* **Friends** who scan separately are separate sessions with separate carts and receipts, even if
  they walk in together and leave at different times.
* **Anonymous**: a track born in the entry zone that no scan claims within ``scan_grace`` seconds
  becomes its own anonymous session (no token) and a ``ReviewItem`` of kind
  ``ANONYMOUS_SESSION`` goes to staff. It is still tracked and billed (to review).
* **Hand-offs**: carts are per session. An item handed between members of one session stays on
  that session's receipt; an item handed between unrelated shoppers stays on the *picker's*
  receipt (the arbiter never moves items between sessions; billing never merges sessions).

Binding: a scan at time ``t_s`` claims tracks born in ``[t_s - pre_window, t_s + window]``
(a person may be seen up to ``pre_window`` before the app's scan arrives). Scans and births are
matched first-in first-out: births in time order take the free slots of the oldest scan that
covers them, so two groups entering back to back each get their own people as long as they walk
through the gate in scan order. If a scan's gate id names an entry zone, only tracks born in that
zone count. A scan whose window passes with fewer tracks than it expects goes to review (the
session keeps the tracks it got); one that got no track at all goes to review as a no-show.

**Duplicate births**: a weak person detector often starts two tracks on one shopper at the
gate (two detections fusion did not merge); the scan binds one of them, sometimes the ghost that
stays behind. A newborn no scan claims that was first seen within ``twin_window`` (0.5 s) of
another newborn's birth and within ``twin_radius`` (1 m) of it joins that track's session
instead of becoming anonymous, with a review item ("check for a tailgater"): a person slipping
in half a second behind a scanner, within a metre, would be billed to the scanner's receipt
under review. Two people walking through a gate in single file are further apart in time.

**Possible identity swaps**: the tracker tells people apart by position only and marks two
tracks *confusable* in a frame set where it could have exchanged their ids (Track.msg
``confusable_ids``). Once both tracks are bound to different sessions and either of them
changes a cart at or after that moment (``on_cart_change``, from msg/CartUpdate.msg: a swap
only moves what is taken after it), each of the two sessions gets one ``IDENTITY_SWAP``
review item (``rv-swap-<session>-<other session>``) and its receipt goes to review: who took
what may belong to the other receipt. A session billed while the other is still in the store
gets its item at billing (``leaving_reviews``): if the ids were swapped, the other one walked
out, and what this shopper takes afterwards lands on the other receipt once this one is final.
Tracks of one session (a family, a joined twin) and
tracks never bound (a ghost given up unconfirmed) raise nothing. Contacts are stored
(``BinderChanges.contacts``) and restored after a billing restart, so a contact before a
restart and a pick after it still go to review.

A track first seen anywhere else is not a new shopper (a re-acquired id after an identity swap:
re-acquisition is the tracker's job): it is ignored and counted in ``stats.ignored_tracks``.
Tentative tracks are only bound once the tracker confirms them (their birth time and place are
those of their first sighting), so a false detection never takes a family's slot.

Leaving: a session is *due* (``CLOSING``) once every track of it has state ``exited`` (left
through the exit zone) and its scan waits for no more companions. A track not seen for
``lost_timeout`` seconds is *lost*: it no longer blocks its session, which then closes with a
review item; if it is seen again before the receipt is issued the session reopens. The tracker
lists coasting tracks until it gives them up and never reuses an id, so a track the frame sets
keep leaving out for ``vanish_after`` (2 s, 3 frame sets or more) is lost at once (a track
restored after a billing restart: frame sets newer than the restart; it may have walked out
during the outage); the timeout covers the frame sets stopping (a tracker restart). A
duplicate that vanishes while its twin of the same session walked out is not reported lost.
``exit_time`` is the exit (or last sighting) of the session's last track. Billing turns a due
session into a receipt and then calls :meth:`SessionBinder.mark_closed`.

Ids are deterministic, so a replayed bag produces the same sessions: ``s-<entry event id>`` for a
scanned session, ``s-anon-<track id>`` for an anonymous one; review ids likewise. No personal data
is kept: tokens are opaque and track ids anonymous integers.

Pure Python (no rclpy); the billing node feeds it EntryEvent and TrackArray messages.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from smart_store.billing.model import (
    EntryScan,
    ReviewItem,
    ReviewKind,
    Session,
    SessionState,
    SwapContact,
)
from smart_store.config.model import StoreConfig

__all__ = [
    "TRACK_STATES",
    "BinderChanges",
    "BinderStats",
    "SessionBinder",
    "anonymous_session_id",
    "session_id_for_scan",
]

#: Track states by name, with their msg/Track.msg codes (either form is accepted).
TRACK_STATES: dict[str, int] = {"tentative": 0, "confirmed": 1, "coasting": 2, "exited": 3}
_TENTATIVE = 0
_EXITED = 3

#: One track in a frame set: ``(track_id, x, y, state)``, state a name or a Track.msg code,
#: optionally followed by the ids of the tracks it is confusable with (Track.msg
#: ``confusable_ids``).
TrackObservation = (tuple[int, float, float, str | int]
                    | tuple[int, float, float, str | int, Sequence[int]])


def session_id_for_scan(event_id: str) -> str:
    """Session id of the session an entry scan opens."""
    return f"s-{event_id}"


def anonymous_session_id(track_id: int) -> str:
    """Session id of the anonymous session of an unscanned track."""
    return f"s-anon-{track_id}"


def _state_code(state: str | int) -> int:
    if isinstance(state, str):
        try:
            return TRACK_STATES[state.lower()]
        except KeyError:
            raise ValueError(f"unknown track state {state!r}") from None
    code = int(state)
    if code not in TRACK_STATES.values():
        raise ValueError(f"unknown track state {state!r}")
    return code


@dataclass(frozen=True)
class BinderChanges:
    """What one call changed: session snapshots to publish/store, new review items, the event
    ids of scans that stopped waiting for tracks (full or expired), newborn tracks that started
    waiting for a scan ``(track_id, born, entry zone id)`` and those that stopped waiting
    (bound or anonymous). Persisting the last three lets :meth:`SessionBinder.restore` resume
    a binding interrupted by a restart."""

    sessions: tuple[Session, ...] = ()
    reviews: tuple[ReviewItem, ...] = ()
    finished_scans: tuple[str, ...] = ()
    newborns: tuple[tuple[int, float, str], ...] = ()
    placed: tuple[int, ...] = ()
    #: Possible identity swaps recorded or changed (``model.SwapContact``).
    contacts: tuple[SwapContact, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sessions or self.reviews or self.finished_scans or self.newborns
                    or self.placed or self.contacts)


@dataclass
class BinderStats:
    """Counters for monitoring (``./smart-store`` diagnostics, tests)."""

    ignored_tracks: int = 0  # first seen outside every entry zone (re-acquired ids)
    anonymous_sessions: int = 0
    expired_scans: int = 0  # scans whose window passed with free slots
    no_show_scans: int = 0  # ... and no track at all
    lost_tracks: int = 0
    duplicate_scans: int = 0
    dropped_tentative: int = 0  # tentative tracks that vanished unconfirmed
    joined_twins: int = 0  # unclaimed newborns joined to the session of their twin
    vanished_tracks: int = 0  # lost because the tracker stopped listing them
    confusions: int = 0  # pairs of sessions sent to review for a possible identity swap


@dataclass
class _Track:
    track_id: int
    born: float
    zone: str | None  # entry zone it was born in; None = born elsewhere
    last_seen: float | None  # None: restored after a restart, not seen since
    classified: bool = False  # bound, orphaned, ignored or anonymous: decided once
    session_id: str | None = None
    exited_at: float | None = None
    # Restored after a restart: the track counts as seen at the first clock tick after it
    # (``restart_seen``), whatever stamps the frames replayed to the new node carry.
    restored: bool = False
    restart_seen: float | None = None
    # Newborns seen in the same frame set as this one's first sighting, near it: (distance, id)
    twins: list[tuple[float, int]] = field(default_factory=list)
    missing_since: float | None = None  # first newer frame set that did not list it
    missing_frames: int = 0
    # Tracks the tracker said this one's identity could have been exchanged with: id -> the
    # first frame-set time it said so (kept until both are bound, or the other is gone).
    confusable: dict[int, float] = field(default_factory=dict)

    def seen(self) -> float | None:
        """When the track was last known to be in the store (None: not anchored yet)."""
        if self.restored and self.restart_seen is None:
            return None
        times = [t for t in (self.last_seen, self.restart_seen) if t is not None]
        return max(times) if times else None


@dataclass(frozen=True)
class _Contact:
    """Two bound tracks of two sessions the tracker said were confusable, first at ``t``."""

    t: float
    tracks: tuple[int, int]
    sessions: tuple[str, str]


def _swap_review(c: _Contact, session_id: str, why: str) -> ReviewItem:
    """The ``IDENTITY_SWAP`` item of ``session_id`` (one of ``c``'s sessions) for contact ``c``;
    ``why`` says what made the contact matter."""
    k = c.sessions.index(session_id)
    other, mine, theirs = c.sessions[1 - k], c.tracks[k], c.tracks[1 - k]
    return ReviewItem(
        review_id=f"rv-swap-{session_id}-{other}", kind=int(ReviewKind.IDENTITY_SWAP),
        session_id=session_id, confidence=0.0, stamp=c.t,
        detail=f"track {mine} of {session_id} and track {theirs} of {other} were close enough "
               f"at {c.t:.1f} s for the tracker to swap them, and {why}")


#: A cart change stamped this little before a contact still counts as after it (the stamp is
#: the weight event's; the reach behind it may straddle the contact).
CONTACT_SLACK = 0.5


@dataclass
class _Pending:
    scan: EntryScan
    bound: list[int] = field(default_factory=list)

    @property
    def free(self) -> int:
        return self.scan.companions + 1 - len(self.bound)

    @property
    def session_id(self) -> str:
        return session_id_for_scan(self.scan.event_id)


@dataclass
class _Live:
    session_id: str
    token: str
    anonymous: bool
    entry_time: float
    stamp: float
    gate_id: str = ""
    entry_event_id: str = ""
    expected: int = 1
    track_ids: list[int] = field(default_factory=list)
    state: SessionState = SessionState.OPEN
    exit_time: float | None = None
    exited: set[int] = field(default_factory=set)
    lost: set[int] = field(default_factory=set)

    def snapshot(self) -> Session:
        return Session(
            session_id=self.session_id,
            account_token=self.token,
            anonymous=self.anonymous,
            track_ids=tuple(self.track_ids),
            state=self.state,
            entry_time=self.entry_time,
            exit_time=self.exit_time,
            stamp=self.stamp,
            gate_id=self.gate_id,
            entry_event_id=self.entry_event_id,
            expected_tracks=self.expected,
            exited_track_ids=tuple(sorted(self.exited)),
            lost_track_ids=tuple(sorted(self.lost)),
        )


class SessionBinder:
    """Binds entry scans and person tracks into sessions; see the module docstring for rules.

    Every input method returns a :class:`BinderChanges`; time only moves forward (the latest
    time seen is "now"). Parameters, all in seconds:

    * ``window``: how long after its scan a scan keeps claiming tracks;
    * ``pre_window``: how long *before* its scan a birth still counts for it;
    * ``scan_grace``: how long an unclaimed newborn track waits for a late scan before it
      becomes anonymous (covers ``pre_window`` plus message latency);
    * ``lost_timeout``: how long a track may go unseen before it stops blocking its session;
    * ``twin_window``, ``twin_radius``: a newborn no scan claims that was first seen within
      ``twin_window`` of another track's birth and ``twin_radius`` of it joins that track's
      session (module docstring: duplicate births);
    * ``vanish_after``: a bound track that the frame sets keep leaving out for this long
      (at least 3 of them, all newer than its last sighting) is lost without waiting for
      ``lost_timeout``.
    """

    def __init__(self, cfg: StoreConfig, *, window: float = 10.0, pre_window: float = 1.5,
                 scan_grace: float = 3.0, lost_timeout: float = 30.0,
                 bind_delay: float = 1.0, twin_window: float = 0.5, twin_radius: float = 1.0,
                 vanish_after: float = 2.0) -> None:
        if min(window, pre_window, scan_grace, lost_timeout, bind_delay, twin_window,
               twin_radius, vanish_after) < 0:
            raise ValueError("binder time windows must be >= 0")
        self.twin_window = twin_window
        self.twin_radius = twin_radius
        self.vanish_after = vanish_after
        self.window = window
        self.pre_window = pre_window
        self.scan_grace = max(scan_grace, bind_delay + 0.5)
        self.bind_delay = bind_delay
        self.lost_timeout = lost_timeout
        self.stats = BinderStats()
        self._entry_zones = cfg.zones_of_kind("entry")
        self._entry_ids = {z.id for z in self._entry_zones}
        self._now = -math.inf
        self._tracks: dict[int, _Track] = {}
        self._pending: list[_Pending] = []  # sorted by (scan time, event id): FIFO
        self._scans_seen: set[str] = set()
        self._orphans: list[int] = []  # confirmed newborns waiting for a scan
        self._sessions: dict[str, _Live] = {}
        self._closed: set[str] = set()
        self._closed_tracks: set[int] = set()  # tracks of billed sessions: never bound again
        self._forgotten: set[int] = set()  # tracks dropped unbound (never bound now)
        self._changed: set[str] = set()
        self._reviews: list[ReviewItem] = []
        self._finished: list[str] = []
        self._newborns: list[tuple[int, float, str]] = []
        self._placed: list[int] = []
        self._contact_changes: dict[tuple[str, str], SwapContact] = {}
        self._swaps: set[tuple[str, str]] = set()  # session pairs sent to review as swappable
        self._contacts: dict[tuple[str, str], _Contact] = {}  # ... not (yet) sent: no change
        self._changed_at: dict[int, float] = {}  # track -> stamp of its latest cart change

    # ---------------------------------------------------------------------------- queries
    @property
    def now(self) -> float:
        """The latest time seen (``-inf`` before any input)."""
        return self._now

    def session(self, session_id: str) -> Session | None:
        """Current snapshot of a session the binder still holds (open or closing)."""
        live = self._sessions.get(session_id)
        return None if live is None else live.snapshot()

    def sessions(self) -> list[Session]:
        """Snapshots of every open or closing session, by entry time."""
        return [s.snapshot() for s in self._ordered(self._sessions)]

    def due_sessions(self) -> list[Session]:
        """Sessions whose every track has left (or is lost): ready to bill, by exit time."""
        due = [s.snapshot() for s in self._sessions.values() if s.state == SessionState.CLOSING]
        return sorted(due, key=lambda s: (s.exit_time or 0.0, s.session_id))

    def session_of_track(self, track_id: int) -> str | None:
        """The session a track is bound to, if any (what the arbiter needs for a reach)."""
        tr = self._tracks.get(track_id)
        return None if tr is None else tr.session_id

    def never_binds(self, track_id: int, since: float) -> bool:
        """Whether a track will never be bound to an open session: first seen outside every
        entry zone (a re-acquired id, ignored), dropped unbound, or already on a billed
        receipt; a track this binder never saw (billing restarted since) once it has been
        unseen for ``lost_timeout`` after ``since``. What such a track takes is on no receipt.
        """
        tid = int(track_id)
        tr = self._tracks.get(tid)
        if tr is not None:
            return tr.session_id is None and tr.classified and tr.zone is None
        if tid in self._forgotten or tid in self._closed_tracks:
            return True
        return self._now - since > self.lost_timeout

    def pending_scans(self) -> list[EntryScan]:
        """Scans still waiting for tracks, oldest first."""
        return [p.scan for p in self._pending]

    # ---------------------------------------------------------------------------- inputs
    def on_entry(self, t: float, event_id: str, token: str, companions: int = 0,
                 gate_id: str = "") -> BinderChanges:
        """An entry scan at time ``t`` for ``companions + 1`` people (msg/EntryEvent.msg)."""
        self._begin()
        self._tick(t)
        if event_id in self._scans_seen:  # a replayed or repeated message
            self.stats.duplicate_scans += 1
            return self._end()
        if companions < 0:
            raise ValueError("companions must be >= 0")
        scan = EntryScan(event_id=event_id, t=float(t), token=token, companions=int(companions),
                         gate_id=gate_id)
        self._add_pending(_Pending(scan))
        # Binding waits for ``bind_delay``: tracks born around the scan are then all known,
        # and the scan takes the ones born nearest its time (see _assign).
        self._housekeep()
        return self._end()

    def on_tracks(self, t: float, tracks: Iterable[TrackObservation]) -> BinderChanges:
        """One frame set of tracks: ``(track_id, x, y, state)``; state a name or a code."""
        self._begin()
        self._tick(t)
        newborn: list[_Track] = []
        first: list[tuple[_Track, float, float]] = []
        where: dict[int, tuple[float, float]] = {}
        for obs in tracks:
            track_id, x, y, state = obs[:4]
            tid = int(track_id)
            code = _state_code(state)
            if tid in self._closed_tracks:
                continue
            where[tid] = (float(x), float(y))
            tr = self._tracks.get(tid)
            if tr is None:
                tr = _Track(tid, born=float(t), zone=self._entry_zone_at(x, y), last_seen=t)
                self._tracks[tid] = tr
                first.append((tr, float(x), float(y)))
            tr.last_seen = float(t) if tr.last_seen is None else max(tr.last_seen, float(t))
            tr.missing_since, tr.missing_frames = None, 0
            if code == _EXITED and tr.exited_at is None:
                tr.exited_at = float(t)
            if not tr.classified and code != _TENTATIVE:
                tr.classified = True
                newborn.append(tr)
            if tr.session_id is not None:
                self._observe_bound(tr)
            for other in (obs[4] if len(obs) > 4 else ()):  # type: ignore[misc]
                if int(other) != tid:
                    tr.confusable.setdefault(int(other), float(t))
        # Duplicate births: a weak detector often starts two tracks on one person at the gate
        # (two detections that fusion did not merge). Remember who was born beside whom.
        for tr, x, y in first:
            if tr.zone is None:
                continue
            for tid, (ox, oy) in where.items():
                other = self._tracks.get(tid)
                if (other is None or other is tr or other.zone != tr.zone
                        or abs(other.born - tr.born) > self.twin_window):
                    continue
                d = math.hypot(ox - x, oy - y)
                if d <= self.twin_radius:
                    tr.twins.append((d, tid))
                    other.twins.append((d, tr.track_id))
        # Bound tracks the tracker stopped listing (it lists coasting tracks until it gives
        # them up, and never reuses an id): missing from newer frame sets.
        # A track restored after a restart counts from the restart on (its exit may have
        # happened while billing was down: then no frame set will ever list it again).
        for tr in self._tracks.values():
            seen = tr.seen()
            if (tr.track_id in where or tr.session_id is None or seen is None
                    or tr.exited_at is not None or float(t) <= seen):
                continue
            if tr.missing_since is None:
                tr.missing_since = float(t)
            tr.missing_frames += 1
        for tr in sorted(newborn, key=lambda r: (r.born, r.track_id)):
            if tr.zone is None:
                self.stats.ignored_tracks += 1
            else:
                self._orphans.append(tr.track_id)
                self._newborns.append((tr.track_id, tr.born, tr.zone or ""))
        self._housekeep()
        return self._end()

    def advance(self, now: float) -> BinderChanges:
        """Let time pass without input: expire scans, declare anonymous and lost tracks."""
        self._begin()
        self._tick(now)
        # The first clock tick after a restore anchors the restored tracks: a node that comes
        # back is first sent the frames kept for late joiners, seconds old, and a track must
        # not be declared lost because of their stamps.
        for tr in self._tracks.values():
            if tr.restored and tr.restart_seen is None:
                tr.restart_seen = self._now
        self._housekeep()
        return self._end()

    def mark_closed(self, session_id: str) -> Session | None:
        """Billing issued the receipt: the session is final and leaves the binder."""
        live = self._sessions.pop(session_id, None)
        self._closed.add(session_id)
        if live is None:
            return None
        live.state = SessionState.CLOSED
        # a pair of billed sessions can meet no more: forget its contact and its review mark
        for key in [k for k in self._contacts if set(k) <= self._closed]:
            del self._contacts[key]
        self._swaps = {k for k in self._swaps if not set(k) <= self._closed}
        for tid in live.track_ids:
            self._changed_at.pop(tid, None)
            self._tracks.pop(tid, None)
            self._closed_tracks.add(tid)
        return live.snapshot()

    def restore_closed_tracks(self, track_ids: Iterable[int]) -> None:
        """Tracks of sessions billed before a restart: never bound again, even if their old
        frames are delivered once more."""
        self._closed_tracks.update(int(t) for t in track_ids)

    def restore(self, sessions: Iterable[Session], scans: Iterable[EntryScan] = (),
                newborns: Iterable[tuple[int, float, str]] = (),
                contacts: Iterable[SwapContact] = ()) -> None:
        """Rebuild state after a restart from stored open sessions, unfinished scans,
        newborn tracks still waiting for a scan and possible identity swaps (see
        :class:`BinderChanges`; contacts of two billed sessions are skipped).

        Restored tracks count as seen at the first :meth:`advance` after the restore (the clock
        of the restart), so a track that vanished during the outage is declared lost
        ``lost_timeout`` after the restart, and the old frames a restarted node is sent first
        (history kept for late joiners) cannot make a track look lost.
        """
        for s in sessions:
            if s.state == SessionState.CLOSED:
                self._closed.add(s.session_id)
                continue
            live = _Live(session_id=s.session_id, token=s.account_token, anonymous=s.anonymous,
                         entry_time=s.entry_time, stamp=s.stamp, gate_id=s.gate_id,
                         entry_event_id=s.entry_event_id, expected=s.expected_tracks,
                         track_ids=list(s.track_ids), state=s.state, exit_time=s.exit_time,
                         exited=set(s.exited_track_ids), lost=set(s.lost_track_ids))
            self._sessions[s.session_id] = live
            for tid in s.track_ids:
                # exit times are not stored: the session stamp bounds them from above
                exited_at = s.stamp if tid in live.exited else None
                self._tracks[tid] = _Track(tid, born=s.entry_time, zone=None, last_seen=None,
                                           classified=True, session_id=s.session_id,
                                           exited_at=exited_at, restored=True)
            if s.entry_event_id:
                self._scans_seen.add(s.entry_event_id)
        for scan in sorted(scans, key=lambda sc: (sc.t, sc.event_id)):
            sid = session_id_for_scan(scan.event_id)
            if sid in self._closed:
                continue
            pending = _Pending(scan)
            live = self._sessions.get(sid)
            if live is not None:
                pending.bound = list(live.track_ids)
            if pending.free > 0 and scan.event_id not in {p.scan.event_id for p in self._pending}:
                self._add_pending(pending)
            self._scans_seen.add(scan.event_id)
        for tid, born, zone in sorted(newborns, key=lambda n: (n[1], n[0])):
            if tid in self._tracks or tid in self._closed_tracks:
                continue
            self._tracks[tid] = _Track(int(tid), born=float(born), zone=zone, last_seen=None,
                                       classified=True, restored=True)
            self._orphans.append(int(tid))
        for a, b, t, ta, tb, flagged in contacts:
            key = (str(a), str(b)) if str(a) < str(b) else (str(b), str(a))
            if not (set(key) & set(self._sessions)):
                continue  # both billed (or unknown): they can meet no more
            if flagged:
                self._swaps.add(key)
                self._contacts.pop(key, None)
            elif key not in self._swaps:
                old = self._contacts.get(key)
                if old is None or float(t) < old.t:
                    self._contacts[key] = _Contact(float(t), (int(ta), int(tb)), (str(a), str(b)))

    # ---------------------------------------------------------------------------- internals
    def _begin(self) -> None:
        self._changed = set()
        self._reviews = []
        self._finished = []
        self._newborns = []
        self._placed = []
        self._contact_changes = {}

    def _end(self) -> BinderChanges:
        live = [self._sessions[sid] for sid in self._changed if sid in self._sessions]
        return BinderChanges(
            sessions=tuple(s.snapshot() for s in self._ordered_list(live)),
            reviews=tuple(self._reviews),
            finished_scans=tuple(self._finished),
            newborns=tuple(self._newborns),
            placed=tuple(self._placed),
            contacts=tuple(self._contact_changes[k] for k in sorted(self._contact_changes)),
        )

    @staticmethod
    def _ordered_list(items: Iterable[_Live]) -> list[_Live]:
        return sorted(items, key=lambda s: (s.entry_time, s.session_id))

    def _ordered(self, sessions: dict[str, _Live]) -> list[_Live]:
        return self._ordered_list(sessions.values())

    def _tick(self, t: float) -> None:
        self._now = max(self._now, float(t))

    def _entry_zone_at(self, x: float, y: float) -> str | None:
        pt = np.array([[float(x), float(y)]])
        for zone in self._entry_zones:
            if bool(zone.contains(pt)[0]):
                return zone.id
        return None

    def _add_pending(self, pending: _Pending) -> None:
        self._scans_seen.add(pending.scan.event_id)
        self._pending.append(pending)
        self._pending.sort(key=lambda p: (p.scan.t, p.scan.event_id))

    def _covers(self, pending: _Pending, tr: _Track) -> bool:
        scan = pending.scan
        if scan.gate_id in self._entry_ids and tr.zone != scan.gate_id:
            return False
        return scan.t - self.pre_window <= tr.born <= scan.t + self.window

    def _assign(self) -> None:
        """Bind waiting newborns to scans by global assignment on time proximity.

        A scan is decided once ``bind_delay`` has passed since it (so every track born around
        it is known); its free slots take the waiting newborns born nearest the scan time,
        solved jointly over all decided scans (linear_sum_assignment), not first come first
        served: an unscanned shopper who walks in just before a scanning one does not take
        that scan's slot and shift every later binding by one.
        """
        ready = [p for p in self._pending if p.free > 0 and p.scan.t + self.bind_delay <= self._now]
        orphans = [self._tracks[tid] for tid in self._orphans]
        if not ready or not orphans:
            return
        import numpy as np  # noqa: PLC0415
        from scipy.optimize import linear_sum_assignment  # noqa: PLC0415

        slots = [(p, k) for p in ready for k in range(p.free)]
        big = 1e6
        cost = np.full((len(slots), len(orphans)), big)
        for i, (p, k) in enumerate(slots):
            for j, tr in enumerate(orphans):
                if self._covers(p, tr):
                    cost[i, j] = abs(tr.born - p.scan.t) + 0.01 * k
        rows, cols = linear_sum_assignment(cost)
        for i, j in sorted(zip(rows, cols, strict=True), key=lambda ij: orphans[ij[1]].born):
            if cost[i, j] >= big:
                continue
            pending, tr = slots[i][0], orphans[j]
            if pending.free <= 0 or tr.session_id is not None:
                continue
            self._attach(pending, tr)
            self._orphans.remove(tr.track_id)
            self._placed.append(tr.track_id)

    def _attach(self, pending: _Pending, tr: _Track) -> None:
        scan = pending.scan
        sid = pending.session_id
        live = self._sessions.get(sid)
        if live is None:
            live = _Live(session_id=sid, token=scan.token, anonymous=not scan.token,
                         entry_time=min(scan.t, tr.born), stamp=self._now, gate_id=tr.zone or "",
                         entry_event_id=scan.event_id, expected=scan.companions + 1)
            self._sessions[sid] = live
            if not scan.token:
                self._review(f"rv-anon-{scan.event_id}", ReviewKind.ANONYMOUS_SESSION, sid,
                             scan.t, f"entry event {scan.event_id} carried no account token")
        live.entry_time = min(live.entry_time, tr.born)
        self._add_track(live, tr)
        pending.bound.append(tr.track_id)
        if pending.free <= 0:
            self._pending.remove(pending)
            self._finished.append(scan.event_id)

    def _add_track(self, live: _Live, tr: _Track) -> None:
        """Bind ``tr`` to the session ``live``."""
        live.track_ids.append(tr.track_id)
        live.stamp = self._now
        tr.session_id = live.session_id
        self._observe_bound(tr)
        self._changed.add(live.session_id)

    def _observe_bound(self, tr: _Track) -> None:
        """A bound track was seen: it may have come back from lost, or left."""
        live = self._sessions.get(tr.session_id or "")
        if live is None:
            return
        if tr.track_id in live.lost:  # seen again: it counts (and blocks) once more
            live.lost.discard(tr.track_id)
            self._reopen(live)
        if tr.exited_at is not None and tr.track_id not in live.exited:
            live.exited.add(tr.track_id)
            live.stamp = self._now
            self._changed.add(live.session_id)

    def _reopen(self, live: _Live) -> None:
        if live.state == SessionState.CLOSING:
            live.state = SessionState.OPEN
            live.exit_time = None
        live.stamp = self._now
        self._changed.add(live.session_id)

    def on_cart_change(self, t: float, track_id: int) -> BinderChanges:
        """A cart changed because of a reach by ``track_id`` (msg/CartUpdate.msg; ``t`` its
        stamp): a possible identity swap of that track before ``t`` now matters."""
        self._begin()
        tid = int(track_id)
        if tid > 0:
            self._changed_at[tid] = max(self._changed_at.get(tid, -math.inf), float(t))
            self._flag_contacts()
        return self._end()

    def _confusions(self) -> None:
        """Record two sessions whose tracks the tracker said could have swapped identities
        (decided once both tracks are bound; forgotten when the other track is gone unbound or
        is in the same session: a duplicate joined as a twin, a family member)."""
        for tr in self._tracks.values():
            if tr.session_id is None or not tr.confusable:
                continue
            for oid, t in sorted(tr.confusable.items()):
                other = self._tracks.get(oid)
                if other is None or other.session_id == tr.session_id:
                    del tr.confusable[oid]
                    continue
                if other.session_id is None:
                    continue  # not bound yet: an orphan waiting for its scan or twin
                del tr.confusable[oid]
                other.confusable.pop(tr.track_id, None)
                a, b = tr.session_id, other.session_id
                key = (a, b) if a < b else (b, a)
                if key in self._swaps:
                    continue  # already on review for this pair
                old = self._contacts.get(key)
                if old is None or t < old.t:
                    self._contacts[key] = _Contact(t, (tr.track_id, oid), (a, b))
                    self._note_contact(key, self._contacts[key], flagged=False)
        self._flag_contacts()

    def _flag_contacts(self) -> None:
        """A recorded contact goes to review once either of its tracks changes a cart at or
        after it: a swap moves only what is taken after it to the other receipt, so two
        shoppers who brush past each other on their way out raise nothing."""
        for key, c in list(self._contacts.items()):
            if max(self._changed_at.get(tid, -math.inf) for tid in c.tracks) < c.t - CONTACT_SLACK:
                continue
            del self._contacts[key]
            self._swaps.add(key)
            self._note_contact(key, c, flagged=True)
            self.stats.confusions += 1
            for sid in c.sessions:
                if sid in self._closed:
                    continue
                self._reviews.append(_swap_review(
                    c, sid, "a cart changed after: items may belong to the other receipt"))
                self._changed.add(sid)

    def leaving_reviews(self, session_id: str) -> list[ReviewItem]:
        """Review items for a session about to be billed that has a recorded contact (no cart
        changed since) with a session still in the store: if their ids were swapped, the one
        who walked out was the other shopper, and what this one takes from now on lands on the
        other receipt, after this one is final. The contact stays recorded for the other
        session (a later cart change still sends it to review)."""
        out: list[ReviewItem] = []
        for key, c in sorted(self._contacts.items()):
            if session_id not in key:
                continue
            other = key[1] if key[0] == session_id else key[0]
            if other in self._closed or other not in self._sessions:
                continue
            out.append(_swap_review(c, session_id, f"{other} is still in the store at this "
                                    "receipt: what it takes later may be this session's"))
        return out

    def _note_contact(self, key: tuple[str, str], c: _Contact, *, flagged: bool) -> None:
        """Report a contact for the store (restored after a restart, :meth:`restore`), with its
        sessions and tracks in key order."""
        ta, tb = c.tracks if c.sessions[0] == key[0] else c.tracks[::-1]
        self._contact_changes[key] = (key[0], key[1], c.t, ta, tb, flagged)

    def _review(self, review_id: str, kind: ReviewKind, session_id: str, stamp: float,
                detail: str, *, event_ids: Sequence[str] = ()) -> None:
        self._reviews.append(ReviewItem(review_id=review_id, kind=int(kind),
                                        session_id=session_id, event_ids=tuple(event_ids),
                                        confidence=0.0, detail=detail, stamp=stamp))

    def _housekeep(self) -> None:
        now = self._now
        self._assign()
        # 1. newborns no scan claimed in time: anonymous sessions
        for tid in sorted(self._orphans, key=lambda i: (self._tracks[i].born, i)):
            tr = self._tracks[tid]
            if now - tr.born > self.scan_grace:
                self._orphans.remove(tid)
                self._placed.append(tid)
                if not self._join_twin(tr):
                    self._anonymous(tr)
        # 1b. tracks of two sessions the tracker could have exchanged (identity ambiguity)
        self._confusions()
        # 2. scans whose window has passed
        for pending in list(self._pending):
            scan = pending.scan
            if now <= scan.t + self.window:
                continue
            self._pending.remove(pending)
            self._finished.append(scan.event_id)
            self.stats.expired_scans += 1
            expected = scan.companions + 1
            if not pending.bound:
                self.stats.no_show_scans += 1
                self._review(f"rv-noshow-{scan.event_id}", ReviewKind.OTHER, "", scan.t,
                             f"entry event {scan.event_id}: nobody entered within "
                             f"{self.window:g} s of the scan", event_ids=(scan.event_id,))
            else:
                self._review(f"rv-short-{scan.event_id}", ReviewKind.OTHER, pending.session_id,
                             scan.t, f"entry event {scan.event_id} announced {expected} people, "
                             f"{len(pending.bound)} entered", event_ids=(scan.event_id,))
        # 3. tracks gone quiet: lost; unconfirmed and ignored ones are forgotten
        for tr in list(self._tracks.values()):
            seen = tr.seen()
            vanished = (tr.missing_since is not None and tr.missing_frames >= 3
                        and now - tr.missing_since >= self.vanish_after)
            if seen is None or (now - seen <= self.lost_timeout and not vanished):
                continue
            if tr.session_id is None:
                if not tr.classified:
                    self.stats.dropped_tentative += 1
                if tr.track_id not in self._orphans:
                    del self._tracks[tr.track_id]
                    self._forgotten.add(tr.track_id)
                continue
            live = self._sessions.get(tr.session_id)
            if live is None or tr.track_id in live.exited or tr.track_id in live.lost:
                continue
            live.lost.add(tr.track_id)
            live.stamp = now
            self.stats.lost_tracks += 1
            self.stats.vanished_tracks += int(now - seen <= self.lost_timeout)
            self._changed.add(live.session_id)
        # 4. sessions whose every track has left (or is lost) and whose scan waits for nobody
        waiting = {p.session_id for p in self._pending}
        for live in self._ordered(self._sessions):
            if live.state != SessionState.OPEN or live.session_id in waiting:
                continue
            if not live.track_ids or not all(t in live.exited or t in live.lost
                                             for t in live.track_ids):
                continue
            ends = [self._end_time(self._tracks.get(t)) for t in live.track_ids]
            live.exit_time = max((e for e in ends if e is not None), default=now)
            live.state = SessionState.CLOSING
            live.stamp = now
            self._changed.add(live.session_id)
            # a twin that vanished while its twin of the same session walked out was a
            # duplicate of that person, not a lost shopper (its join was reviewed already)
            really_lost = [t for t in sorted(live.lost) if t not in self._tracks or not any(
                tid in live.exited for _d, tid in self._tracks[t].twins)]
            if really_lost:
                lost = ", ".join(str(t) for t in really_lost)
                self._review(f"rv-lost-{live.session_id}", ReviewKind.OTHER, live.session_id,
                             live.exit_time, f"track(s) {lost} lost before reaching the exit "
                             "(given up by the tracker, or unseen for the lost-track timeout); "
                             "session closed")

    @staticmethod
    def _end_time(tr: _Track | None) -> float | None:
        if tr is None:
            return None
        return tr.exited_at if tr.exited_at is not None else tr.seen()

    def _join_twin(self, tr: _Track) -> bool:
        """An unclaimed newborn born beside a bound track joins that track's session."""
        for d, tid in sorted(tr.twins):
            twin = self._tracks.get(tid)
            live = self._sessions.get(twin.session_id or "") if twin is not None else None
            if twin is None or live is None or live.state != SessionState.OPEN:
                continue
            self._add_track(live, tr)
            self.stats.joined_twins += 1
            self._review(f"rv-twin-{tr.track_id}", ReviewKind.OTHER, live.session_id, tr.born,
                         f"track {tr.track_id} appeared {d:.2f} m from track {tid} within "
                         f"{abs(tr.born - twin.born):.1f} s of its birth with no scan of its "
                         f"own: joined session {live.session_id} as a probable duplicate of "
                         "one person (check for a tailgater)")
            return True
        return False

    def _anonymous(self, tr: _Track) -> None:
        sid = anonymous_session_id(tr.track_id)
        live = _Live(session_id=sid, token="", anonymous=True, entry_time=tr.born,
                     stamp=self._now, gate_id=tr.zone or "", track_ids=[tr.track_id])
        self._sessions[sid] = live
        tr.session_id = sid
        self._observe_bound(tr)
        self.stats.anonymous_sessions += 1
        self._changed.add(sid)
        self._review(f"rv-anon-{tr.track_id}", ReviewKind.ANONYMOUS_SESSION, sid, tr.born,
                     f"track {tr.track_id} entered without an entry scan")
