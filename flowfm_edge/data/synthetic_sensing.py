"""How the synthetic watch senses the wrist: rotation into the sensor frame, gravity, strap
mounting, handedness, then calibration errors, noise, 12-bit quantisation and +-8 g saturation.
"""

from __future__ import annotations

import numpy as np

FULL_SCALE_G = 8.0
LSB_G = 2 * FULL_SCALE_G / 4096  # 12-bit converter


def rotation(yaw, pitch, roll) -> np.ndarray:
    """Rz(yaw) @ Ry(pitch) @ Rx(roll), angles in radians of any shape (...) -> (..., 3, 3)."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    return np.stack([
        np.stack([cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr], -1),
        np.stack([sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr], -1),
        np.stack([-sp, cp * sr, cp * cr], -1),
    ], -2)


def to_sensor(yaw, pitch, roll, v: np.ndarray) -> np.ndarray:
    """``rotation(yaw, pitch, roll)^T @ v`` for angles (...) and vectors (..., 3), without building matrices."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    cy, sy = np.cos(yaw), np.sin(yaw)
    x, y = cy * x + sy * y, cy * y - sy * x  # undo yaw
    cp, sp = np.cos(pitch), np.sin(pitch)
    x, z = cp * x - sp * z, sp * x + cp * z  # undo pitch
    cr, sr = np.cos(roll), np.sin(roll)
    y, z = cr * y + sr * z, cr * z - sr * y  # undo roll
    return np.stack([x, y, z], axis=-1)


def specific_force(angles: np.ndarray, acc: np.ndarray, subj, pid) -> np.ndarray:
    """Specific force in the sensor frame (N, T, 3): (R_wrist R_mount)^T (e_z + a_dyn), left wrists mirrored."""
    f = acc.copy()
    f[..., 2] += 1.0  # the accelerometer feels +1 g up at rest
    wrist = to_sensor(*angles, f)  # (N, T, 3) in the wrist frame
    r_mount = rotation(*subj["mount"][pid].T)  # (N, 3, 3)
    out = np.einsum("nji,ntj->nti", r_mount, wrist)
    out[subj["left"][pid], :, 1] *= -1  # the other wrist is the mirror image: one axis flips
    return out


def digitise(rng, reading: np.ndarray, subj, pid) -> np.ndarray:
    """Gain, bias, white noise, 12-bit quantisation and +-8 g saturation; (N, T, 3) in g."""
    out = reading * subj["gain"][pid, None] + subj["bias"][pid, None]
    out += subj["noise"][pid, None, None] * rng.normal(size=reading.shape)
    out = np.round(out / LSB_G) * LSB_G
    return np.clip(out, -FULL_SCALE_G, FULL_SCALE_G)
