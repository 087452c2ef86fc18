"""Fine-tuned text classifiers: the encoder trained end to end (full, LoRA or SetFit's method).

See :class:`FineTunedClassifier` (a scikit-learn estimator; loaded on first use, as
scikit-learn is slow to import); saved folders are standard Hugging Face
sequence-classification folders (:mod:`frasi.finetune.folder`) that run on frasi's
backends (:mod:`frasi.finetune.runtime`) through :class:`~frasi.finetune.predictor.TextClassifier`.
"""

from .. import _lazy

__getattr__, __dir__ = _lazy.lazy_attributes(__name__, {"FineTunedClassifier": "estimator", "METHODS": "estimator"},
                                             globals())

__all__ = ["METHODS", "FineTunedClassifier"]
