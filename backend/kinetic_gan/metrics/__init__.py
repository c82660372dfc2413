"""Evaluation metrics: the published FID/MMD protocol and recognition-based metrics.

``fid`` (Fréchet distance, FID Inception), ``mmd`` (MMD-a/MMD-s), ``recognition``
(accuracy, diversity, multimodality with confidence intervals), ``recognizer``
(the ST-GCN whose features they use). See docs/metrics.md.
"""
