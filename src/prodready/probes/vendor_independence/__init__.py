"""Q10 — Can the model run without one vendor?

Two halves, both in the finding:

1. The portable export: the model exported to an open format, ONNX through skl2onnx (skops
   when ONNX cannot express the model, or the ``onnx`` extra is missing: then a WARN says
   ``pip install 'prodready[onnx]'``), run in a clean child process (``python -I``, only the
   export's runtime imported: onnxruntime, never scikit-learn nor prodready) on a sample of
   the reference data (and of the current window, when given), and compared with the
   original's predictions (probabilities for classifiers) within
   ``vendor_independence.tolerance``.
2. The serving path's dependencies (see :mod:`~prodready.probes.vendor_independence._deps`):
   cloud vendors' ML SDKs declared by the model or imported by its serving code FAIL; their
   licences are listed and the ones that are not open (BSL, SSPL, AGPL, Commons Clause,
   proprietary, unknown) WARN, named.

Rows the model itself cannot score are the system failing (a FAIL naming the cause); the
export is compared on the rows it answers. PASS when the export reproduces the model and
nothing locks it to one vendor.

* :mod:`~prodready.probes.vendor_independence._settings`: :class:`VendorIndependenceSettings`;
* :mod:`~prodready.probes.vendor_independence._export`: the export and its clean-process check;
* :mod:`~prodready.probes.vendor_independence._deps`: the serving path, vendor SDKs, licences;
* :mod:`~prodready.probes.vendor_independence._probe`: :class:`VendorIndependenceProbe`.
"""

from prodready.probes.vendor_independence._probe import VendorIndependenceProbe
from prodready.probes.vendor_independence._settings import VendorIndependenceSettings

__all__ = ["VendorIndependenceProbe", "VendorIndependenceSettings"]
