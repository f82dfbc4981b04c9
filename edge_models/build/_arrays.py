"""Array type aliases shared by the build's modules."""

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
U8Array = npt.NDArray[np.uint8]
