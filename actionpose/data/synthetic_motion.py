"""Puppet motion for the synthetic dataset: action classes as joint-angle programs over time.

A program maps normalised time ``t`` in [0, 1] (one value per frame) and per-clip parameters
(amplitude, cycles, phase, event times) to segment angles of a 2-D articulated puppet. Forward
kinematics then gives the JHMDB-15 joints in pixels (x = column, 0-based).

Angles are absolute, in radians, measured from "straight down", positive towards +x (the
direction a side-view puppet faces). Each limb segment also has an x-foreshortening factor
(signed) so that a rotation in depth (a baseball swing, a twisting torso) projects to 2-D.
Mirroring (a puppet facing -x) is applied to the finished joints by the caller.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from actionpose.pose.skeletons import JHMDB15

D = np.deg2rad

# limbs: right arm, left arm, right leg, left leg; each has an upper and a lower segment
SEGMENTS = ("ra_u", "ra_l", "la_u", "la_l", "rl_u", "rl_l", "ll_u", "ll_l")


@dataclass
class ClipParams:
    """Per-clip motion parameters drawn by the generator (see :func:`draw_params`)."""

    T: int
    amplitude: float  # ~[0.75, 1.2], multiplies the class's range of motion
    speed: float  # ~[0.75, 1.3], multiplies the class's cycles per 30 frames
    phase: float  # [0, 1)
    events: np.ndarray  # sorted uniform draws in (0, 1) for one-off events (kick, throw...)
    rng: np.random.Generator

    @property
    def t(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, self.T)

    def cycles(self, per_30_frames: float) -> float:
        return per_30_frames * self.speed * self.T / 30.0

    def s(self, per_30_frames: float) -> np.ndarray:
        """Phase angle 2*pi*(cycles*t + phase) of a periodic motion."""
        return 2 * np.pi * (self.cycles(per_30_frames) * self.t + self.phase)


@dataclass
class Motion:
    """Per-frame pose parameters of one clip (arrays of shape (T,))."""

    T: int
    view: str  # "front" | "side": sets the default shoulder/hip width
    grounded: bool = True  # feet stand on the ground line (the lowest ankle touches it)
    angles: dict[str, np.ndarray] = field(default_factory=dict)
    fx: dict[str, np.ndarray] = field(default_factory=dict)  # x-foreshortening per segment
    lean: np.ndarray | None = None  # torso angle from vertical, + = towards +x
    head: np.ndarray | None = None  # head tilt relative to the torso
    width: np.ndarray | None = None  # shoulder/hip width factor (1 = frontal, ~0.3 = profile)
    dx: np.ndarray | None = None  # root displacement in body heights (+x)
    dy: np.ndarray | None = None  # root displacement in body heights (+ = down)

    def __post_init__(self) -> None:
        z = np.zeros(self.T)
        front = self.view == "front"
        rest = {"ra_u": -D(8) if front else D(0), "la_u": D(8) if front else D(0),
                "rl_u": -D(4) if front else D(0), "ll_u": D(4) if front else D(0)}
        for seg in SEGMENTS:
            limb_rest = rest.get(seg[:3] + "u", 0.0)
            self.angles.setdefault(seg, z + limb_rest)
            self.fx.setdefault(seg, z + 1.0)
        self.lean = z.copy() if self.lean is None else self.lean
        self.head = z.copy() if self.head is None else self.head
        self.width = (z + (0.9 if front else 0.3)) if self.width is None else self.width
        self.dx = z.copy() if self.dx is None else self.dx
        self.dy = z.copy() if self.dy is None else self.dy

    def set(self, **angles: np.ndarray | float) -> "Motion":
        for key, value in angles.items():
            if key not in SEGMENTS:
                raise KeyError(key)
            self.angles[key] = np.broadcast_to(np.asarray(value, float), (self.T,)).copy()
        return self


# ---------------------------------------------------------------------------------------------
# time-shaping helpers


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def ramp(t: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """0 before t0, 1 after t1, smooth in between."""
    return smoothstep((t - t0) / max(t1 - t0, 1e-6))


def bump(t: np.ndarray, centre: float, half_width: float) -> np.ndarray:
    """Raised-cosine pulse: 1 at ``centre``, 0 beyond ``half_width``."""
    x = np.clip((t - centre) / max(half_width, 1e-6), -1.0, 1.0)
    return 0.5 * (1 + np.cos(np.pi * x))


def _pos(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, None)


def _event(p: ClipParams, i: int, lo: float, hi: float) -> float:
    return float(lo + (hi - lo) * p.events[i])


# ---------------------------------------------------------------------------------------------
# the programs (one per class, named after JHMDB's classes)


def _walk(p: ClipParams, *, run: bool = False) -> Motion:
    m = Motion(p.T, "side")
    s = p.s(1.7 if run else 1.0)
    swing = D(38 if run else 22) * p.amplitude * np.sin(s)
    knee_gain, knee_base = (D(75), D(25)) if run else (D(32), D(6))
    m.set(rl_u=swing, ll_u=-swing,
          rl_l=swing - (knee_base + knee_gain * _pos(np.cos(s))),
          ll_l=-swing - (knee_base + knee_gain * _pos(-np.cos(s))))
    arm = -(0.9 if run else 0.7) * swing
    elbow = D(85) if run else D(15)
    m.set(ra_u=arm, la_u=-arm, ra_l=arm + elbow, la_l=-arm + elbow)
    m.lean = np.full(p.T, D(13) if run else D(4))
    m.dx = p.cycles(1.7 if run else 1.0) * (0.8 if run else 0.42) * p.t
    if run:
        m.dy = -0.04 * p.amplitude * np.abs(np.sin(s))
    return m


def _sit_stand(p: ClipParams, *, stand: bool) -> Motion:
    m = Motion(p.T, "side")
    t0 = _event(p, 0, 0.05, 0.35)
    down = ramp(p.t, t0, t0 + 0.3 + 0.3 * p.events[1])
    if stand:
        down = 1.0 - down
    thigh = D(85) * min(p.amplitude, 1.05) * down
    m.set(rl_u=thigh, ll_u=thigh * 0.95, rl_l=0 * thigh, ll_l=0 * thigh)
    m.lean = D(25) * down * (1 + 0.3 * np.sin(np.pi * down))
    arm = D(10) + D(30) * down
    m.set(ra_u=arm, la_u=arm * 0.9, ra_l=arm + D(35) * down, la_l=arm + D(30) * down)
    return m


def _jump(p: ClipParams) -> Motion:
    m = Motion(p.T, "side")
    u = np.mod(p.cycles(1.1) * p.t + p.phase, 1.0)
    crouch = bump(u, 0.18, 0.18) + bump(u, 0.92, 0.12)
    air = np.where((u > 0.35) & (u < 0.8), np.sin(np.pi * (u - 0.35) / 0.45), 0.0)
    thigh = D(50) * crouch + D(10) * air
    m.set(rl_u=thigh, ll_u=thigh, rl_l=thigh - D(85) * crouch - D(20) * air,
          ll_l=thigh - D(85) * crouch - D(25) * air)
    arm = -D(45) * crouch + D(150) * p.amplitude * air
    m.set(ra_u=arm, la_u=arm - D(5), ra_l=arm + D(15), la_l=arm + D(10))
    m.lean = D(25) * crouch
    m.dy = -0.3 * p.amplitude * air
    return m


def _wave(p: ClipParams) -> Motion:
    m = Motion(p.T, "front")
    s = p.s(2.5)
    raise_ = ramp(p.t, 0.0, _event(p, 0, 0.0, 0.25))
    upper = -(D(20) + D(105) * raise_)
    fore = upper * (1 - raise_) + raise_ * (-np.pi + D(32) * p.amplitude * np.sin(s))
    m.set(ra_u=upper, ra_l=fore)
    return m


def _clap(p: ClipParams) -> Motion:
    m = Motion(p.T, "front")
    q = (1 + np.sin(p.s(3.0))) / 2 * p.amplitude
    upper_out = D(28) + D(25) * q
    fore_out = -D(95) + D(60) * q
    m.set(ra_u=-upper_out, la_u=upper_out, ra_l=-fore_out, la_l=fore_out)
    return m


def _kick_ball(p: ClipParams) -> Motion:
    m = Motion(p.T, "side")
    tc = _event(p, 0, 0.35, 0.7)
    back = bump(p.t, tc - 0.13, 0.12)
    fwd = bump(p.t, tc, 0.11)
    thigh = -D(35) * back + D(75) * p.amplitude * fwd
    m.set(rl_u=thigh, rl_l=thigh - D(75) * back - D(8), ll_u=D(-5) * fwd, ll_l=D(-5) * fwd)
    m.set(ra_u=D(30) * back - D(30) * fwd, la_u=-D(30) * back + D(35) * fwd)
    m.set(ra_l=m.angles["ra_u"] + D(20), la_l=m.angles["la_u"] + D(20))
    m.lean = -D(8) * fwd + D(5) * back
    m.dx = 0.25 * ramp(p.t, 0.0, tc)
    return m


def _throw(p: ClipParams) -> Motion:
    m = Motion(p.T, "side")
    tc = _event(p, 0, 0.4, 0.7)
    wind = ramp(p.t, tc - 0.25, tc - 0.05)
    through = ramp(p.t, tc - 0.05, tc + 0.12)
    upper = -D(140) * p.amplitude * wind - D(180) * through
    m.set(ra_u=upper, ra_l=upper + D(90) * wind * (1 - through) + D(10))
    m.set(la_u=D(60) * wind * (1 - through) - D(20) * through)
    m.set(la_l=m.angles["la_u"] + D(30))
    m.set(ll_u=D(22) * through, ll_l=D(22) * through - D(5), rl_u=-D(15) * through,
          rl_l=-D(15) * through - D(15) * through)
    m.lean = -D(12) * wind * (1 - through) + D(22) * through
    m.width = 0.3 + 0.3 * wind * (1 - through)
    return m


def _golf(p: ClipParams) -> Motion:
    m = Motion(p.T, "front")
    t0 = _event(p, 0, 0.05, 0.3)
    tc = t0 + 0.25 + 0.2 * p.events[1]
    back = ramp(p.t, t0, tc)
    through = ramp(p.t, tc, tc + 0.15)
    waggle = D(8) * np.sin(p.s(2.0)) * (1 - back)
    arm = -D(110) * p.amplitude * back + D(230) * p.amplitude * through + waggle
    m.set(ra_u=arm + D(8), la_u=arm - D(8), ra_l=arm + D(12), la_l=arm - D(4))
    m.set(rl_u=-D(10), ll_u=D(10), rl_l=-D(10), ll_l=D(10))
    m.head = D(15) * (1 - through) - D(10) * through
    m.width = 0.9 - 0.3 * back * (1 - through)
    return m


def _pullup(p: ClipParams) -> Motion:
    m = Motion(p.T, "front", grounded=False)
    q = (1 - np.cos(p.s(1.0))) / 2 * min(p.amplitude, 1.1)
    upper_out = D(168) - D(70) * q
    fore_out = D(172) + D(35) * q
    m.set(ra_u=-upper_out, la_u=upper_out, ra_l=-fore_out, la_l=fore_out)
    m.set(rl_u=D(3), ll_u=D(-3), rl_l=D(3), ll_l=D(-3))
    m.dy = -0.22 * q
    return m


def _pick(p: ClipParams) -> Motion:
    m = Motion(p.T, "side")
    bend = bump(p.t, _event(p, 0, 0.4, 0.6), _event(p, 1, 0.25, 0.4))
    m.lean = D(75) * p.amplitude * bend
    m.set(rl_u=D(28) * bend, ll_u=D(22) * bend, rl_l=-D(20) * bend, ll_l=-D(22) * bend)
    m.set(ra_u=D(12) * bend + D(5), ra_l=D(10) * bend + D(5),
          la_u=D(35) * bend, la_l=D(50) * bend)
    return m


def _climb_stairs(p: ClipParams) -> Motion:
    m = Motion(p.T, "side")
    s = p.s(1.0)
    lift_r, lift_l = _pos(np.sin(s)), _pos(-np.sin(s))
    m.set(rl_u=D(60) * p.amplitude * lift_r, ll_u=D(60) * p.amplitude * lift_l,
          rl_l=D(60) * lift_r - D(85) * lift_r - D(5), ll_l=D(60) * lift_l - D(85) * lift_l - D(5))
    m.set(ra_u=-D(25) * np.sin(s), la_u=D(25) * np.sin(s))
    m.set(ra_l=m.angles["ra_u"] + D(20), la_l=m.angles["la_u"] + D(20))
    m.lean = np.full(p.T, D(10))
    m.dx = 0.3 * p.cycles(1.0) * p.t
    m.dy = -0.16 * p.cycles(1.0) * p.t
    return m


def _shoot_bow(p: ClipParams) -> Motion:
    m = Motion(p.T, "side")
    raise_ = ramp(p.t, 0.0, _event(p, 0, 0.1, 0.3))
    t1 = _event(p, 1, 0.3, 0.55)
    draw = ramp(p.t, t1, t1 + 0.2) * (p.t < t1 + 0.35)
    m.set(la_u=D(88) * raise_, la_l=D(90) * raise_,
          ra_u=D(85) * raise_ - D(160) * draw * p.amplitude, ra_l=D(90) * raise_)
    m.set(rl_u=D(12), ll_u=-D(12), rl_l=D(12), ll_l=-D(12))
    m.width = 0.3 + 0.25 * raise_
    return m


def _brush_hair(p: ClipParams) -> Motion:
    m = Motion(p.T, "front")
    raise_ = ramp(p.t, 0.0, _event(p, 0, 0.0, 0.25))
    s = p.s(2.0)
    upper = -(D(10) + D(140) * raise_)
    fore = upper * (1 - raise_) - raise_ * (D(205) + D(30) * p.amplitude * np.sin(s))
    m.set(ra_u=upper, ra_l=fore)
    m.head = D(8) * np.sin(s) * raise_
    return m


def _catch(p: ClipParams) -> Motion:
    m = Motion(p.T, "front")
    tc = _event(p, 0, 0.35, 0.65)
    reach = bump(p.t, tc, 0.3)
    grab = ramp(p.t, tc, tc + 0.1) * reach
    upper_out = D(12) + D(105) * p.amplitude * reach
    fore_out = upper_out - D(70) * grab
    m.set(ra_u=-upper_out, la_u=upper_out, ra_l=-fore_out, la_l=fore_out)
    m.dy = -0.05 * bump(p.t, tc, 0.08)
    return m


def _pour(p: ClipParams) -> Motion:
    m = Motion(p.T, "side")
    t0 = _event(p, 0, 0.1, 0.4)
    tilt = ramp(p.t, t0, t0 + 0.3) * (1 - ramp(p.t, t0 + 0.45, t0 + 0.6))
    upper = D(55) + D(10) * np.sin(p.s(0.7))
    m.set(ra_u=upper, ra_l=upper + D(50) - D(40) * p.amplitude * tilt,
          la_u=np.full(p.T, D(30)), la_l=np.full(p.T, D(100)))
    m.lean = D(10) * tilt
    return m


def _push(p: ClipParams) -> Motion:
    m = Motion(p.T, "side")
    e = (1 - np.cos(p.s(0.8))) / 2 * p.amplitude
    upper = D(70) + D(15) * e
    m.set(ra_u=upper, la_u=upper - D(5), ra_l=upper + D(100) * (1 - e), la_l=upper + D(95) * (1 - e))
    m.set(rl_u=np.full(p.T, D(20)), ll_u=np.full(p.T, -D(20)), rl_l=np.full(p.T, D(10)),
          ll_l=np.full(p.T, -D(20)))
    m.lean = D(15) + D(10) * e
    m.dx = 0.15 * e
    return m


def _shoot_ball(p: ClipParams) -> Motion:
    m = Motion(p.T, "front")
    tc = _event(p, 0, 0.4, 0.7)
    lift = ramp(p.t, tc - 0.35, tc - 0.1)
    extend = ramp(p.t, tc - 0.05, tc + 0.1)
    crouch = bump(p.t, tc - 0.1, 0.12)
    upper_out = D(30) * lift + D(130) * p.amplitude * extend
    fore_out = upper_out - D(120) * (1 - extend) * lift
    m.set(ra_u=-upper_out, la_u=upper_out, ra_l=-fore_out, la_l=fore_out)
    m.dy = D(0) + 0.06 * crouch - 0.1 * bump(p.t, tc + 0.06, 0.08)
    return m


def _shoot_gun(p: ClipParams) -> Motion:
    m = Motion(p.T, "side")
    raise_ = ramp(p.t, 0.0, _event(p, 0, 0.1, 0.35))
    shots = 1 + int(p.events[1] * 3)
    recoil = sum(bump(p.t, _event(p, 0, 0.35, 0.45) + k * 0.18, 0.04) for k in range(shots))
    upper = D(88) * raise_ + D(14) * p.amplitude * recoil
    m.set(ra_u=upper, ra_l=upper - D(4) * recoil, la_u=upper - D(3), la_l=upper)
    m.width = 0.3 + 0.2 * raise_
    m.set(rl_u=np.full(p.T, D(10)), ll_u=np.full(p.T, -D(10)), rl_l=np.full(p.T, D(10)),
          ll_l=np.full(p.T, -D(10)))
    return m


def _swing_baseball(p: ClipParams) -> Motion:
    m = Motion(p.T, "side")
    tc = _event(p, 0, 0.35, 0.7)
    ready = ramp(p.t, 0.0, tc - 0.15)
    swing = ramp(p.t, tc, tc + 0.14)
    # arms at shoulder height rotating in depth: the projected x-extent follows cos(psi)
    psi = D(-160) * ready * (1 - swing) + D(60) * p.amplitude * swing
    fx = np.cos(psi)
    arm = D(80) - D(30) * (1 - swing) * ready
    m.set(ra_u=arm, la_u=arm - D(5), ra_l=arm + D(10), la_l=arm + D(8))
    for seg in ("ra_u", "ra_l", "la_u", "la_l"):
        m.fx[seg] = fx
    m.width = 0.3 + 0.6 * np.abs(np.sin(psi))
    m.set(rl_u=np.full(p.T, D(15)), ll_u=np.full(p.T, -D(15)), rl_l=np.full(p.T, D(15)),
          ll_l=np.full(p.T, -D(15)))
    m.lean = D(12) * np.ones(p.T)
    return m


PROGRAMS = {
    "wave": _wave,
    "walk": _walk,
    "sit": lambda p: _sit_stand(p, stand=False),
    "jump": _jump,
    "clap": _clap,
    "run": lambda p: _walk(p, run=True),
    "stand": lambda p: _sit_stand(p, stand=True),
    "kick_ball": _kick_ball,
    "throw": _throw,
    "golf": _golf,
    "pick": _pick,
    "pullup": _pullup,
    "climb_stairs": _climb_stairs,
    "brush_hair": _brush_hair,
    "shoot_bow": _shoot_bow,
    "catch": _catch,
    "pour": _pour,
    "push": _push,
    "shoot_ball": _shoot_ball,
    "shoot_gun": _shoot_gun,
    "swing_baseball": _swing_baseball,
}
# ``--classes N`` takes the first N of this order (similar pairs come early: walk/run, sit/stand)
CLASS_ORDER = tuple(PROGRAMS)


def draw_params(rng: np.random.Generator, T: int) -> ClipParams:
    """Intra-class variation of one clip: amplitude, speed, phase and event times."""
    return ClipParams(
        T=T,
        amplitude=float(rng.uniform(0.75, 1.2)),
        speed=float(rng.uniform(0.75, 1.3)),
        phase=float(rng.uniform()),
        events=rng.uniform(size=4),
        rng=rng,
    )


# ---------------------------------------------------------------------------------------------
# body and kinematics


@dataclass(frozen=True)
class Body:
    """Segment lengths in body heights (ankle to top of the head ~ 1)."""

    head: float  # neck -> face (head centre)
    torso: float  # neck -> belly
    shoulder: float  # half width
    hip: float  # half width
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    head_radius: float

    @property
    def standing_drop(self) -> float:
        """Belly to ankle when standing straight."""
        return 0.03 + self.thigh + self.shin


def draw_body(rng: np.random.Generator) -> Body:
    """Per-actor proportions: each length varies by about +-12% around an adult's."""
    j = lambda base: float(base * rng.uniform(0.88, 1.12))  # noqa: E731
    return Body(head=j(0.1), torso=j(0.3), shoulder=j(0.11), hip=j(0.075), upper_arm=j(0.17),
                forearm=j(0.15), thigh=j(0.23), shin=j(0.23), head_radius=j(0.065))


def _dir(angle: np.ndarray, fx: np.ndarray | float = 1.0) -> np.ndarray:
    return np.stack([fx * np.sin(angle), np.cos(angle)], axis=-1)


def forward_kinematics(m: Motion, body: Body, *, pose_jitter: np.ndarray | None = None) -> np.ndarray:
    """(T, 15, 2) joints in body heights, belly at the origin, y down, JHMDB-15 order.

    ``pose_jitter`` (10, T) adds to the 8 segment angles, the lean and the head tilt.
    """
    T = m.T
    ang = {k: m.angles[k].copy() for k in SEGMENTS}
    lean, head = m.lean.copy(), m.head.copy()
    if pose_jitter is not None:
        for i, k in enumerate(SEGMENTS):
            ang[k] += pose_jitter[i]
        lean += pose_jitter[8]
        head += pose_jitter[9]
    belly = np.zeros((T, 2))
    up = np.stack([np.sin(lean), -np.cos(lean)], axis=-1)
    across = np.stack([np.cos(lean), np.sin(lean)], axis=-1)
    neck = belly + body.torso * up
    face = neck + body.head * np.stack([np.sin(lean + head), -np.cos(lean + head)], axis=-1)
    w = m.width[:, None]
    # the actor's right side is image-left in a frontal view
    r_sh, l_sh = neck - w * body.shoulder * across, neck + w * body.shoulder * across
    hip_c = belly + np.array([0.0, 0.03])
    flat = np.array([1.0, 0.0])
    r_hip, l_hip = hip_c - w * body.hip * flat, hip_c + w * body.hip * flat
    return _assemble(body, ang, m, neck, belly, face, r_sh, l_sh, r_hip, l_hip)


def _assemble(body, ang, m, neck, belly, face, r_sh, l_sh, r_hip, l_hip) -> np.ndarray:
    def seg(start, key, length):
        return start + length * _dir(ang[key], m.fx[key])

    r_el = seg(r_sh, "ra_u", body.upper_arm)
    l_el = seg(l_sh, "la_u", body.upper_arm)
    r_wr = seg(r_el, "ra_l", body.forearm)
    l_wr = seg(l_el, "la_l", body.forearm)
    r_kn = seg(r_hip, "rl_u", body.thigh)
    l_kn = seg(l_hip, "ll_u", body.thigh)
    r_an = seg(r_kn, "rl_l", body.shin)
    l_an = seg(l_kn, "ll_l", body.shin)
    joints = [neck, belly, face, r_sh, l_sh, r_hip, l_hip, r_el, l_el, r_kn, l_kn, r_wr, l_wr,
              r_an, l_an]
    return np.stack(joints, axis=1)


def smooth_jitter(rng: np.random.Generator, n: int, T: int, amplitude: float) -> np.ndarray:
    """(n, T) low-frequency random wobble: a sum of three random sinusoids per row."""
    t = np.arange(T)[None, None, :]
    freq = rng.uniform(0.01, 0.08, size=(n, 3, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 3, 1))
    weight = rng.uniform(0.3, 1.0, size=(n, 3, 1))
    wave = (weight * np.sin(2 * np.pi * freq * t + phase)).sum(axis=1)
    return amplitude * wave / 1.5


def mirror_joints(joints: np.ndarray, centre_x: float) -> np.ndarray:
    """Mirror (T, 15, 2) joints about x = centre_x and swap left/right joint indices."""
    out = joints.copy()
    out[..., 0] = 2 * centre_x - out[..., 0]
    return out[:, JHMDB15.flip_permutation()]


__all__ = ["PROGRAMS", "CLASS_ORDER", "ClipParams", "Motion", "Body", "draw_params", "draw_body",
           "forward_kinematics", "smooth_jitter", "mirror_joints", "SEGMENTS"]
