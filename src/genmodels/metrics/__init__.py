"""Metrics, computed offline: likelihood baselines (and, as families land, FID, anomaly, recsys, tabular)."""

from .anomaly import anomaly_metrics, roc_points
from .fid import FeatureNetwork, class_coverage, feature_network, fid, frechet_distance, sample_quality
from .image import psnr, ssim
from .likelihood import independent_bernoulli_log_likelihood
from .precision_recall import precision_recall

__all__ = ["FeatureNetwork", "anomaly_metrics", "class_coverage", "feature_network", "fid", "frechet_distance",
           "independent_bernoulli_log_likelihood", "precision_recall", "psnr", "roc_points", "sample_quality", "ssim"]
