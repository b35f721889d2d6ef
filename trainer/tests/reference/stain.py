"""Reference stain normalisation in NumPy, for trainer/tests/it/stain.rs.

The same published formulas as shared/src/stain, written independently in NumPy (float64,
numpy.percentile, numpy.linalg.eigh and numpy.linalg.lstsq):
- Reinhard: CIELAB (sRGB, D65) mean and population standard deviation per channel;
- Macenko (ISBI 2009): optical density -ln(max(I, 1) / 255); pixels with every channel's
  density >= beta; the two largest eigenvectors of their covariance (each turned to positive
  red); angles at percentiles alpha and 100 - alpha; haematoxylin the one with more red;
  concentrations by least squares over all pixels; maxima at the 99th percentile.

usage: stain.py SOURCE.rgb W H TARGET.rgb W H OUT_PREFIX
Writes OUT_PREFIX.json (fitted statistics) and OUT_PREFIX-reinhard.rgb, OUT_PREFIX-macenko.rgb
(the source normalised to the target, raw RGB8).
"""
import json
import sys

import numpy as np

M = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
M_INV = np.array([[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560], [0.0556434, -0.2040259, 1.0572252]])
WHITE = np.array([0.95047, 1.0, 1.08883])
DELTA = 6.0 / 29.0


def read(path, w, h):
    return np.fromfile(path, dtype=np.uint8).reshape(int(h), int(w), 3)


def to_lab(img):
    c = img.reshape(-1, 3).astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    t = lin @ M.T / WHITE
    f = np.where(t > DELTA ** 3, np.cbrt(t), t / (3 * DELTA ** 2) + 4.0 / 29.0)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def from_lab(lab, shape):
    fy = (lab[:, 0] + 16) / 116
    fs = np.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], axis=1)
    xyz = np.where(fs > DELTA, fs ** 3, 3 * DELTA ** 2 * (fs - 4.0 / 29.0)) * WHITE
    lin = np.clip(xyz @ M_INV.T, 0, 1)
    c = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.clip(np.floor(c * 255 + 0.5), 0, 255).astype(np.uint8).reshape(shape)


def reinhard_fit(img):
    lab = to_lab(img)
    return lab.mean(axis=0), lab.std(axis=0)


def od(img):
    return -np.log(np.maximum(img.reshape(-1, 3).astype(np.float64), 1) / 255.0)


def macenko_fit(img, beta=0.15, alpha=1.0):
    d = od(img)
    tissue = d[~np.any(d < beta, axis=1)]
    _, vecs = np.linalg.eigh(np.cov(tissue, rowvar=False))
    e = vecs[:, [2, 1]]
    e[:, 0] *= 1 if e[0, 0] >= 0 else -1
    e[:, 1] *= 1 if e[0, 1] >= 0 else -1
    proj = tissue @ e
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, alpha), np.percentile(phi, 100 - alpha)
    v_lo = e @ np.array([np.cos(lo), np.sin(lo)])
    v_hi = e @ np.array([np.cos(hi), np.sin(hi)])
    he = np.array([v_lo, v_hi]) if v_lo[0] > v_hi[0] else np.array([v_hi, v_lo])
    he = he / np.linalg.norm(he, axis=1, keepdims=True)
    conc = np.linalg.lstsq(he.T, d.T, rcond=None)[0].T
    return he, np.percentile(conc, 99, axis=0), conc


def main():
    src = read(*sys.argv[1:4])
    tgt = read(*sys.argv[4:7])
    out = sys.argv[7]
    s_mean, s_std = reinhard_fit(src)
    t_mean, t_std = reinhard_fit(tgt)
    lab = (to_lab(src) - s_mean) / s_std * t_std + t_mean
    from_lab(lab, src.shape).tofile(out + "-reinhard.rgb")
    s_he, s_max, s_conc = macenko_fit(src)
    t_he, t_max, _ = macenko_fit(tgt)
    d = (s_conc * (t_max / s_max)) @ t_he
    rgb = np.clip(np.floor(255 * np.exp(-np.maximum(d, 0)) + 0.5), 0, 255).astype(np.uint8)
    rgb.reshape(src.shape).tofile(out + "-macenko.rgb")
    fits = {
        "reinhard": {"source": [s_mean.tolist(), s_std.tolist()], "target": [t_mean.tolist(), t_std.tolist()]},
        "macenko": {"source": [s_he.tolist(), s_max.tolist()], "target": [t_he.tolist(), t_max.tolist()]},
    }
    with open(out + ".json", "w") as f:
        json.dump(fits, f)


if __name__ == "__main__":
    main()
