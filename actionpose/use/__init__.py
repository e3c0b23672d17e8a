"""Using a trained model: open a run or an export (:mod:`~actionpose.use.model`), re-evaluate it
with test-time augmentation (:mod:`~actionpose.use.evaluate`), export it
(:mod:`~actionpose.use.export`), predict on any video (:mod:`~actionpose.use.predict`, drawn by
:mod:`~actionpose.use.video_out`), explain where it looks (:mod:`~actionpose.use.explain`) and
draw confusion matrices (:mod:`~actionpose.use.confusion`). Modules are imported on use.
"""
