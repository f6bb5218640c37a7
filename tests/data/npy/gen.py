"""Writes .npy fixtures with NumPy for kiln's .npy reader/writer tests.
Run with /usr/bin/python3 (Debian's numpy); the outputs are committed."""
import numpy as np
from numpy.lib import format as npf

a = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
np.save("f32_2x3.npy", a)
np.save("i64_4.npy", np.array([1, -2, 3, 1 << 40], dtype=np.int64))
np.save("bool_scalar.npy", np.array(True))
np.save("u8_empty.npy", np.zeros((0, 3), dtype=np.uint8))
np.save("f64_1x1x2.npy", np.array([[[0.5, -1.25]]], dtype=np.float64))
for ver in [(1, 0), (2, 0), (3, 0)]:
    with open(f"v{ver[0]}_f32.npy", "wb") as f:
        npf.write_array(f, a, version=ver)
np.save("big_endian.npy", a.astype(">f4"))
np.save("fortran.npy", np.asfortranarray(a))
