"""torch's AVX2 Box-Muller kernel in numpy: 16 uniforms in, 16 standard normals out.

torch's CPU ``randn`` (ATen ``normal_fill``) turns each block of 16 uniforms into normals with
``NormalFill16<float>``; on x86 CPUs with AVX2 it uses ``log256_ps`` and ``sincos256_ps`` from
``avx_mathfun.h`` (Cephes polynomials), compiled with FMA contraction. Reproducing those operations
in float32, with the contractions the compiler made (measured: the two marked below were the ones
that made every value equal), gives torch's noise bit for bit, so a seed keeps its image without
torch in the serving image. On AVX-512 CPUs torch uses a scalar libm path instead whose values
differ from these by at most 1-2 float32 ulps; numpy gives the same values on every CPU.
"""

from __future__ import annotations

import numpy as np

from .floats import Float32Array, as_f32, f32, fma32

_LOG_POLY = tuple(f32(v) for v in (
    7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
    -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
))
_LOG_Q1, _LOG_Q2 = f32(-2.12194440e-4), f32(0.693359375)
_SQRTHF = f32(0.707106781186547524)
_MIN_NORM = np.array(0x00800000, dtype=np.int32).view(np.float32)
_HALF_BITS = np.array(0.5, dtype=np.float32).view(np.int32)
_DP = (f32(-0.78515625), f32(-2.4187564849853515625e-4), f32(-3.77489497744594108e-8))
_FOPI = f32(1.27323954473516)  # 4 / pi
_SIN_POLY = (f32(-1.9515295891e-4), f32(8.3321608736e-3), f32(-1.6666654611e-1))
_COS_POLY = (f32(2.443315711809948e-5), f32(-1.388731625493765e-3), f32(4.166664568298827e-2))
_SIGN = np.int32(-0x80000000)
#: ``_mm256_set1_ps(2.0f * c10::pi<double>)``: 2 pi rounded to float32 once.
TWO_PI = f32(2.0 * np.pi)


def log256(x: Float32Array) -> Float32Array:
    """``log256_ps`` for positive float32 values (the kernel only takes logs of (0, 1])."""
    x = np.maximum(x.astype(np.float32), _MIN_NORM)
    bits = x.view(np.int32)
    exponent = (bits.view(np.uint32) >> np.uint32(23)).astype(np.int32) - np.int32(0x7F)
    x = ((bits & np.int32(~0x7F800000)) | _HALF_BITS).view(np.float32)
    e = exponent.astype(np.float32) + f32(1)
    small = x < _SQRTHF
    tmp = np.where(small, x, f32(0))
    x = x - f32(1)
    e = e - np.where(small, f32(1), f32(0))
    x = x + tmp
    z = x * x
    y = np.full_like(x, _LOG_POLY[0])
    for coefficient in _LOG_POLY[1:]:
        y = fma32(y, x, coefficient)
    y = y * x
    y = fma32(y, z, e * _LOG_Q1)  # contracted: y * z + e * q1 (the compiler fused the first product)
    y = fma32(z, f32(-0.5), y)
    return fma32(e, _LOG_Q2, x + y)


def sincos256(x: Float32Array) -> tuple[Float32Array, Float32Array]:
    """``sincos256_ps``: (sin x, cos x) for float32 values in [0, 2 pi)."""
    sign_sin = x.view(np.int32) & _SIGN
    x = np.abs(x)
    octant = (x * _FOPI).astype(np.int32)  # truncation, as _mm256_cvttps_epi32
    octant = (octant + np.int32(1)) & np.int32(~1)
    y = octant.astype(np.float32)
    sign_sin = sign_sin ^ ((octant & np.int32(4)) << np.int32(29))
    sign_cos = (~(octant - np.int32(2)) & np.int32(4)) << np.int32(29)
    use_sin_poly = (octant & np.int32(2)) == 0
    for dp in _DP:
        x = fma32(y, dp, x)
    z = x * x
    cos_poly = fma32(fma32(np.full_like(x, _COS_POLY[0]), z, _COS_POLY[1]), z, _COS_POLY[2])
    cos_poly = cos_poly * z
    cos_poly = fma32(cos_poly, z, z * f32(-0.5)) + f32(1)  # contracted: y * z - z * 0.5
    sin_poly = fma32(fma32(np.full_like(x, _SIN_POLY[0]), z, _SIN_POLY[1]), z, _SIN_POLY[2])
    sin_poly = fma32(sin_poly * z, x, x)
    sin_part = np.where(use_sin_poly, sin_poly, f32(0))
    cos_part = np.where(use_sin_poly, f32(0), cos_poly)
    sine = (cos_part + sin_part).view(np.int32) ^ sign_sin
    cosine = ((cos_poly - cos_part) + (sin_poly - sin_part)).view(np.int32) ^ sign_cos
    return sine.view(np.float32), cosine.view(np.float32)


def normal_fill_16(uniforms: Float32Array) -> Float32Array:
    """Blocks of 16 uniforms in [0, 1) -> normals: ``data[j]`` = r cos(theta), ``data[j + 8]`` = r sin(theta)."""
    blocks = uniforms.astype(np.float32).reshape(-1, 16)
    u1 = f32(1) - blocks[:, :8]  # [0, 1) -> (0, 1] for the log
    radius = np.sqrt(f32(-2) * log256(u1))
    sine, cosine = sincos256(TWO_PI * blocks[:, 8:])
    # _mm256_fmadd_ps(n, std=1, mean=0): exact, except that -0 becomes +0.
    normals = np.concatenate([radius * cosine + f32(0), radius * sine + f32(0)], axis=1)
    return as_f32(normals.reshape(-1))
