"""Pose extraction: a video collection -> a JHMDB-format tree with estimated pose.

The tool above ``actionpose.data``: :mod:`~actionpose.extract.estimators` (MediaPipe, Keypoint
R-CNN), :mod:`~actionpose.extract.sources` (finding and reading clips),
:mod:`~actionpose.extract.pipeline` (``extract``, workers, clip metadata),
:mod:`~actionpose.extract.splits` (the tree's splits), :mod:`~actionpose.extract.accuracy` (PCK
of an estimator on a JHMDB clip), :mod:`~actionpose.extract.estimated` (an embedded world with
estimated pose). Modules are imported on use so that ``import actionpose.extract``
does not load mediapipe.
"""
