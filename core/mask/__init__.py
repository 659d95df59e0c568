"""Occlusion-aware face masks: a small segmentation network learned from a few labelled faces of a shot
(painted on the review page or imported from image files), applied to every face and used by training
(`--train-mask`) and merging (mask modes `occlusion*`)."""
