"""A seeded, physically grounded wrist accelerometer generator (docs/design.md#data-contract, source ``synthetic``).

Each window is built in the world frame (x forward, y left, z up) and seen by the sensor:

    reading = gain * (R_wrist(t) @ R_mount)^T (e_z + a_dyn(t)) + bias + noise   -> quantised, clipped

- ``e_z``: gravity as the accelerometer feels it at rest (+1 g up); ``a_dyn`` (T, 3) the
  wrist's own acceleration in g.
- ``R_wrist(t)``: a posture-dependent wrist orientation (yaw, pitch, roll; pitch 90 deg is a
  hanging forearm) that drifts slowly and moves with arm swing and gestures.
- Activities: gait (walking 1.6-2.0 Hz steps, stairs, running with heel strikes) with a
  pendulum arm swing at half the step rate whose centripetal/tangential pull lands on
  the step rate and its harmonics; cycling (pedal sway, road vibration, bumps); sitting and
  standing (micro-motion, gesture bursts); sleep (near stillness, twitches, turns);
  transitions between postures.
- Subjects differ in gait frequency, vigour, arm swing, posture habits, handedness (the
  left wrist mirrors one sensor axis), strap mounting rotation and device calibration
  (bias, gain, noise); the sensor quantises to 12 bits and saturates at +-8 g.

Sensor frame: x along the forearm towards the hand, z out of the watch face, y = z cross x.
Everything is vectorised over windows; the same seed gives the same windows. The signal pieces
(drift, band-limited noise, bursts) are in :mod:`.synthetic_signals`, the sensor model in
:mod:`.synthetic_sensing`.
"""

from __future__ import annotations

import numpy as np

from .contract import DataError, RATE_HZ, WINDOW_LEN, WindowSet
from .synthetic_sensing import digitise, specific_force
from .synthetic_signals import T_S, band, bursts, drift, pick, spikes

ACTIVITIES = ("walking", "stairs_up", "stairs_down", "running", "cycling", "sitting", "standing", "sleeping",
              "transition")
STATIC = ("sitting", "standing", "sleeping")
G = 9.81  # m/s^2 per g

# Posture modes: (weight, pitch mean, pitch sd, roll mean, roll sd) in degrees. Modes overlap
# across postures on purpose: a hand held in front while standing looks like a forearm on a desk.
POSES = {
    "sit": [(0.40, 5, 10, 5, 20), (0.30, 30, 12, 45, 25), (0.15, 10, 15, 85, 20), (0.15, 55, 15, 80, 20)],
    "stand": [(0.45, 78, 10, 90, 20), (0.25, 20, 15, 20, 25), (0.15, 5, 20, 120, 30), (0.15, 55, 15, 70, 25)],
    "lie": [(0.30, 0, 12, 0, 35), (0.20, 0, 15, 180, 30), (0.30, 5, 15, 90, 25), (0.20, -40, 20, -90, 40)],
    "walk": [(0.85, 80, 8, 90, 15), (0.15, 45, 12, 60, 20)],
    "stairs_up": [(0.6, 70, 12, 85, 20), (0.4, 40, 15, 60, 25)],
    "stairs_down": [(0.7, 75, 10, 90, 20), (0.3, 45, 15, 60, 25)],
    "run": [(1.0, 10, 15, 70, 20)],
    "cycle": [(0.7, 25, 10, 30, 30), (0.3, 35, 12, 75, 20)],
}
HABIT_CONCENTRATION = 3.0  # low: each subject keeps to a few posture modes
N_STYLE = 10  # style coordinates per (subject, activity)
STYLE_JITTER = 0.12  # window-to-window spread around a subject's style
TRANSITIONS = [("sit", "stand"), ("stand", "sit"), ("sit", "lie"), ("lie", "sit"), ("stand", "lie"), ("lie", "stand")]

# Gait presets: cadence relative to the subject's walking step rate (running has its own),
# vertical bounce (g), 2nd/3rd harmonic ratios, heel strike (g), arm swing scale, arm length (m).
GAITS = {
    "walking": dict(cadence=(1.0, 1.0), bounce=(0.20, 0.32), h2=(0.2, 0.5), h3=(0.0, 0.2), strike=(0.1, 0.4),
                    swing=1.0, arm=0.6),
    "stairs_up": dict(cadence=(0.85, 1.0), bounce=(0.22, 0.38), h2=(0.1, 0.35), h3=(0.0, 0.1), strike=(0.05, 0.2),
                      swing=0.55, arm=0.6),
    "stairs_down": dict(cadence=(0.98, 1.1), bounce=(0.18, 0.30), h2=(0.3, 0.6), h3=(0.05, 0.25), strike=(0.2, 0.6),
                        swing=0.65, arm=0.6),
    "running": dict(cadence=None, bounce=(0.8, 1.2), h2=(0.3, 0.6), h3=(0.1, 0.3), strike=(1.0, 2.5),
                    swing=1.6, arm=0.35),
}


def make_synthetic(n_subjects: int = 12, windows_per_activity: int = 8, seed: int = 0,
                   activities: list[str] | tuple[str, ...] | None = None) -> WindowSet:
    """Synthetic wrist windows ``X`` (N, 3, 300) float32 in g, N = subjects x activities x windows.

    ``y`` (N,) codes into ``classes`` (the activity names), ``pid`` (N,) subject 0..n-1.

    >>> ws = make_synthetic(n_subjects=2, windows_per_activity=1)
    >>> ws.X.shape, ws.classes[0]
    ((18, 3, 300), 'walking')
    """
    acts = list(ACTIVITIES if activities is None else activities)
    unknown = [a for a in acts if a not in ACTIVITIES]
    if unknown or not acts:
        raise DataError(f"synthetic: unknown activities {unknown}; choose from {', '.join(ACTIVITIES)}")
    if n_subjects < 1 or windows_per_activity < 1:
        raise DataError(f"synthetic: need n_subjects >= 1 and windows_per_activity >= 1, "
                        f"got {n_subjects} and {windows_per_activity}")
    rng = np.random.default_rng(seed)
    subj = _subjects(rng, n_subjects)
    pid = np.repeat(np.arange(n_subjects), len(acts) * windows_per_activity)  # (N,)
    y = np.tile(np.repeat(np.arange(len(acts)), windows_per_activity), n_subjects)  # (N,)
    n = len(y)
    angles = np.zeros((3, n, WINDOW_LEN))  # yaw, pitch, roll (rad), (3, N, T)
    acc = np.zeros((n, WINDOW_LEN, 3))  # a_dyn in the world frame, g
    for code, name in enumerate(acts):
        idx = np.flatnonzero(y == code)
        sty = subj["style"][pid[idx], ACTIVITIES.index(name)] + rng.normal(0, STYLE_JITTER, (len(idx), N_STYLE))
        ang, a = _ACTIVITY[name](rng, subj, pid[idx], name, np.clip(sty, 0, 1))
        angles[:, idx], acc[idx] = ang, a
    angles += np.deg2rad(drift(rng, n, 3)) * rng.uniform(1.0, 4.0, (3, n, 1))
    reading = specific_force(angles, acc, subj, pid)  # (N, T, 3)
    reading = digitise(rng, reading, subj, pid)
    return WindowSet(X=reading.transpose(0, 2, 1).astype(np.float32), y=y, pid=pid, classes=acts,
                     source="synthetic", meta={"seed": seed, "rate_hz": RATE_HZ, "generator": "wrist-v1"})


# --- subjects ---------------------------------------------------------------------------------


def _subjects(rng: np.random.Generator, s: int) -> dict[str, np.ndarray]:
    """Per-subject traits, arrays (S,) or (S, k)."""
    return {
        "f_walk": rng.uniform(1.66, 1.92, s),  # steps per second
        "f_run": rng.uniform(2.5, 2.95, s),
        "f_pedal": rng.uniform(1.0, 1.5, s),
        "vigour": rng.lognormal(0.0, 0.3, s),
        "swing": rng.uniform(0.15, 0.45, s),  # arm swing amplitude, rad
        "habit": rng.normal(0.0, 1.0, (s, len(POSES), 2)) * [14.0, 20.0],  # posture offsets, deg
        "modes": {k: rng.dirichlet(HABIT_CONCENTRATION * np.array(m)[:, 0], s) for k, m in POSES.items()},  # (S, K)
        "style": rng.random((s, len(ACTIVITIES), N_STYLE)),  # how this person does each activity, in [0, 1]
        "left": rng.random(s) < 0.3,
        "mount": np.deg2rad(rng.normal(0.0, 1.0, (s, 3)) * [15.0, 8.0, 25.0]),  # yaw, pitch, roll
        "bias": np.clip(rng.normal(0.0, 0.006, (s, 3)), -0.012, 0.012),
        "gain": 1.0 + np.clip(rng.normal(0.0, 0.008, (s, 3)), -0.015, 0.015),
        "noise": rng.uniform(0.004, 0.012, s),
    }


def _pose(rng, subj, pid, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Pitch and roll (n,) in degrees drawn from the mode table ``POSES[name]`` plus subject habit."""
    modes = np.array(POSES[name], dtype=float)
    cum = np.cumsum(subj["modes"][name][pid], axis=1)  # (n, K): each subject favours some modes
    k = np.minimum((rng.random((len(pid), 1)) > cum).sum(1), len(modes) - 1)
    z = rng.normal(size=(2, len(pid)))
    habit = subj["habit"][pid, list(POSES).index(name)]  # (n, 2)
    pitch = modes[k, 1] + modes[k, 2] * z[0] + habit[:, 0]
    roll = modes[k, 3] + modes[k, 4] * z[1] + habit[:, 1]
    return pitch, roll


def _angles(yaw, pitch, roll) -> np.ndarray:
    """Degrees, each (n,) or (n, T) -> radians (3, n, T)."""
    parts = [np.asarray(a, float) for a in (yaw, pitch, roll)]
    parts = [a[:, None] if a.ndim == 1 else a for a in parts]
    return np.deg2rad(np.stack(np.broadcast_arrays(*parts, np.zeros((1, WINDOW_LEN)))[:3]))


# --- activities: (rng, subj, pid, name, sty (n, N_STYLE) in [0, 1]) -> angles (3, n, T) rad, a_dyn (n, T, 3) g


def _gait(rng, subj, pid, name, sty):
    n, p = len(pid), GAITS[name]
    u = lambda lohi: rng.uniform(*lohi, (n, 1))  # noqa: E731
    if p["cadence"] is None:
        f = subj["f_run"][pid, None] * rng.uniform(0.97, 1.03, (n, 1))
    else:
        f = subj["f_walk"][pid, None] * pick(p["cadence"], sty[:, 0]) * rng.uniform(0.98, 1.02, (n, 1))
        f = np.clip(f, 1.3, 2.2)
        if name == "walking":  # a normal walking cadence: 96-119 steps per minute
            f = np.clip(f, 1.63, 1.97)
    f_t = f * (1 + 0.015 * drift(rng, n)[0])  # step-to-step variability, (n, T)
    step = 2 * np.pi * np.cumsum(f_t, axis=1) / RATE_HZ + rng.uniform(0, 2 * np.pi, (n, 1))  # (n, T)
    vig = subj["vigour"][pid, None]
    bounce = pick(p["bounce"], sty[:, 1]) * vig
    vert = bounce * (np.sin(step) + pick(p["h2"], sty[:, 2]) * np.sin(2 * step + pick((0, 2 * np.pi), sty[:, 6]))
                     + pick(p["h3"], sty[:, 3]) * np.sin(3 * step + u((0, 2 * np.pi))))
    # Heel strike at the bottom of the bounce (step phase pi/2), where the vertical push peaks; zero-mean.
    vert += pick(p["strike"], sty[:, 4]) * vig * (spikes(step - np.pi / 2, f, 0.035) - 0.035 * np.sqrt(2 * np.pi) * f)
    fwd = 0.5 * bounce * np.sin(step + u((0.5, 1.5)))
    lat = pick((0.03, 0.1), sty[:, 5]) * vig * np.sin(step / 2 + u((0, 2 * np.pi)))
    # Pendulum arm: theta swings at the stride rate, phase-locked so its pull adds to the bounce.
    th0 = subj["swing"][pid, None] * p["swing"] * pick((0.7, 1.3), sty[:, 7])
    carrying = rng.random((n, 1)) < 0.4 * sty[:, 8:9]  # a bag, a phone, a pocket: the arm barely swings
    th0 = np.where(carrying, 0.15 * th0, th0)
    vert, fwd = np.where(carrying, 0.7 * vert, vert), np.where(carrying, 0.7 * fwd, fwd)
    arg = step / 2 - np.pi / 4 + rng.normal(0, 0.15, (n, 1))
    w = np.pi * f_t
    th, dth, ddth = th0 * np.sin(arg), th0 * w * np.cos(arg), -th0 * w**2 * np.sin(arg)
    L = p["arm"] / G
    fwd += L * (ddth * np.cos(th) - dth**2 * np.sin(th))
    vert += L * (ddth * np.sin(th) + dth**2 * np.cos(th))  # mean 0 over a swing, energy at the step rate
    pose = {"walking": "walk", "running": "run"}.get(name, name)
    pitch, roll = _pose(rng, subj, pid, pose)
    yaw = rng.normal(0, 15, n)
    ang = _angles(yaw, pitch[:, None] - np.rad2deg(th), roll[:, None] + 8 * np.sin(arg))
    return ang, np.stack([fwd, lat, vert], axis=-1)


def _static(rng, subj, pid, name, sty):
    n = len(pid)
    posture = {"sitting": "sit", "standing": "stand", "sleeping": "lie"}[name]
    pitch, roll = _pose(rng, subj, pid, posture)
    yaw = rng.normal(0, 30, (n, 1)) * np.ones(WINDOW_LEN)
    pitch, roll = pitch[:, None] * np.ones(WINDOW_LEN), roll[:, None] * np.ones(WINDOW_LEN)
    if name == "sleeping":
        micro = pick((0.001, 0.005), sty[:, 0])[..., None]
        env = bursts(rng, n, pick((0.05, 0.3), sty[:, 1]), (0.15, 0.4))  # twitches
        acc = micro * band(rng, n, 0.2, 3.0)
        acc += (rng.uniform(0.03, 0.12, (n, 1)) * env)[..., None] * band(rng, n, 1, 6)
        turn = rng.random((n, 1)) < 0.08  # a turn in bed: roll steps to a new side over ~1.5 s
        c = rng.uniform(2, 8, (n, 1))
        roll = roll + turn * rng.normal(0, 70, (n, 1)) / (1 + np.exp(-(T_S - c) / 0.3))
        return _angles(yaw, pitch, roll), acc
    micro = pick((0.005, 0.03), sty[:, 0])[..., None]
    acc = micro * band(rng, n, 0.3, 5.0)
    if name == "standing":  # postural sway and weight shifts
        acc += pick((0.005, 0.02), sty[:, 3])[..., None] * band(rng, n, 0.1, 1.0)
        # A few steps at a counter or a desk: a short burst of gait bounce inside a standing window.
        shuffle = bursts(rng, n, 0.5 * sty[:, 4:5], (0.6, 1.5))
        f = subj["f_walk"][pid, None] * rng.uniform(0.85, 1.0, (n, 1))
        phase = 2 * np.pi * f * T_S + rng.uniform(0, 2 * np.pi, (n, 1))
        acc[..., 2] += pick((0.05, 0.2), sty[:, 5]) * shuffle * np.sin(phase)
    env = bursts(rng, n, pick((0.1, 0.7), sty[:, 1]), (0.3, 1.0))  # gestures: reach, drink, type, point
    acc += (pick((0.05, 0.25), sty[:, 2]) * env)[..., None] * band(rng, n, 0.5, 3.0)
    pitch = pitch + rng.normal(0, 25, (n, 1)) * env
    roll = roll + rng.normal(0, 35, (n, 1)) * env
    yaw = yaw + 3 * drift(rng, n)[0]
    return _angles(yaw, pitch, roll), acc


def _cycling(rng, subj, pid, name, sty):
    n = len(pid)
    f = subj["f_pedal"][pid, None] * rng.uniform(0.9, 1.1, (n, 1))
    crank = 2 * np.pi * f * T_S + rng.uniform(0, 2 * np.pi, (n, 1))
    lat = pick((0.01, 0.05), sty[:, 0]) * np.sin(crank)
    vert = pick((0.01, 0.05), sty[:, 1]) * np.sin(2 * crank + rng.uniform(0, 2 * np.pi, (n, 1)))
    # Handlebar vibration, from a home trainer (almost none) to a rough road.
    road = pick((0.003, 0.12), sty[:, 2] ** 2)[..., None] * band(rng, n, 4.0, 14.0)
    hit = rng.random((n, WINDOW_LEN)) < pick((0.05, 0.5), sty[:, 3]) / RATE_HZ  # bumps per second / rate
    bumps = hit * rng.uniform(0.1, 0.6, (n, WINDOW_LEN))
    acc = road + np.stack([0 * lat, lat, vert + bumps - bumps.mean(1, keepdims=True)], axis=-1)
    pitch, roll = _pose(rng, subj, pid, "cycle")
    steer = 5 * drift(rng, n, fmax=0.5)[0]
    return _angles(rng.normal(0, 10, n), pitch[:, None] + 0.5 * steer, roll[:, None] + steer), acc


def _transition(rng, subj, pid, name, sty):
    n = len(pid)
    pair = rng.integers(len(TRANSITIONS), size=n)
    p_a, r_a, p_b, r_b = (np.zeros(n) for _ in range(4))
    for k, (a, b) in enumerate(TRANSITIONS):
        i = np.flatnonzero(pair == k)
        p_a[i], r_a[i] = _pose(rng, subj, pid[i], a)
        p_b[i], r_b[i] = _pose(rng, subj, pid[i], b)
    dur = pick((1.0, 3.5), sty[:, 0])
    start = rng.uniform(1.0, 9.0 - dur, (n, 1))
    s = np.clip((T_S - start) / dur, 0, 1)  # (n, T) progress of the movement
    ease = 0.5 - 0.5 * np.cos(np.pi * s)
    d_roll = (r_b - r_a + 180) % 360 - 180  # the short way round
    pitch = p_a[:, None] + (p_b - p_a)[:, None] * ease
    roll = r_a[:, None] + d_roll[:, None] * ease
    moving = (s > 0) & (s < 1)
    lift = np.where(np.isin(pair, [0, 5]), 1.0, np.where(np.isin(pair, [1, 4]), -1.0, 0.3))[:, None]
    vert = pick((0.08, 0.3), sty[:, 1]) * lift * np.sin(2 * np.pi * s) * moving
    fwd = pick((0.05, 0.2), sty[:, 2]) * np.sin(2 * np.pi * s + 0.5) * moving
    arm = pick((0.03, 0.2), sty[:, 3])[..., None] * band(rng, n, 0.5, 3.0)
    acc = arm * np.sin(np.pi * s)[..., None] + np.stack([fwd, 0 * fwd, vert], axis=-1)
    acc += 0.01 * band(rng, n, 0.3, 5.0)
    return _angles(rng.normal(0, 30, n), pitch, roll), acc


_ACTIVITY = {"walking": _gait, "stairs_up": _gait, "stairs_down": _gait, "running": _gait, "cycling": _cycling,
             "sitting": _static, "standing": _static, "sleeping": _static, "transition": _transition}
