"""Training Vitrina's own emotion model (``edge-models train``): the TensorFlow-free parts.

This package holds what can be tested and imported without TensorFlow: the training recipe
(:mod:`.recipe`), the seeded data augmentation (:mod:`.augment`), the calibration maths
(:mod:`.calibration`), the run folder's files (:mod:`.run`), the kiosk's framings of the training faces
(:mod:`.framings`), the ``install`` step (:mod:`.install`) and the click commands (:mod:`.cli`). The
training loop and the int8 export need TensorFlow and live in :mod:`edge_models.build.train_emotion`,
imported only when a training really starts.
"""
